"""The imager's `bundle` command against the loopback S3 server: a prepared disk (or a file) on the simulated
node bundled and uploaded, unbundled back to the same bytes, `clean=yes`, and every refusal in one line."""
import os

import pytest
from test_imager import CACHE, ROOT, WORK, Node

from engine.imager.run import HelpRequested, Imager, help_text
from engine.images.bundle import BundleSpec
from engine.images.store import BundleStore, StoreError, s3_client
from engine.images.unbundle import unbundle
from engine.nodeio import VirtualClockAdapter


@pytest.fixture
def setup(server, keys):
    node = Node()
    store = BundleStore(s3_client(server.endpoint))
    spec = BundleSpec(arch="x86_64", user="123456789012", ec2cert=keys["cloud_cert"], privatekey=keys["user_key"])
    return node, store, spec


def _imager(node, store, spec, *argv):
    from engine.nodeio import NodeIO
    from engine.sources import ImageSources, NodeFileSource
    clock = VirtualClockAdapter(node.host.node.clock)
    tool = Imager(node.host, ImageSources({"file": NodeFileSource(NodeIO(node.host, clock=clock))}), clock=clock,
                  seed=1, store=store, bundle_spec=spec)
    return tool.main(list(argv)), tool


def _keys(store, bucket):
    return sorted(o["Key"] for o in store.s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _download_and_unbundle(store, location, tmp_path, keys):
    manifest = store.download_bundle(location, str(tmp_path / "dl"))
    return open(unbundle(manifest, destination=str(tmp_path / "out"), privatekey=keys["cloud_key"]), "rb").read()


def test_bundle_uploads_the_disk_prepare_made_and_it_unbundles_to_the_same_bytes(setup, tmp_path, keys):
    node, store, spec = setup
    rc, tool = _imager(node, store, spec, CACHE, WORK, "prepare", "out=dsk-bundled", node.vbrs[0],
                       "bundle", "bucket=imager-out")
    assert rc == 0, tool.errors
    assert tool.output == "imager-out/dsk-bundled.manifest.xml\n"     # the disk's id names the bundle
    assert "dsk-bundled.manifest.xml" in _keys(store, "imager-out")
    disk = node.run("dd", "if=/dev/mapper/euca-dsk-bundled", "bs=1M", "status=none").stdout.encode(
        "utf-8", "surrogateescape")
    assert len(disk) == (64 << 20) + 63 * 512
    assert _download_and_unbundle(store, "imager-out/dsk-bundled.manifest.xml", tmp_path, keys) == disk
    assert node.run("test", "-e", "/var/lib/imager/work").rc == 1       # the work store is gone as ever


def test_bundle_a_file_with_a_prefix_and_clean_yes_leaves_nothing_in_the_bucket(setup, tmp_path, keys):
    node, store, spec = setup
    image = f"/var/lib/nc-harness/images/{ROOT}.img"
    rc, tool = _imager(node, store, spec, CACHE, WORK, "bundle", f"in={image}", "bucket=imager-kept",
                       "prefix=root.img", "kernel=eki-11111111", "ramdisk=eri-22222222")
    assert rc == 0, tool.errors
    manifest, _ = store.get_manifest("imager-kept/root.img.manifest.xml")
    assert (manifest.kernel_id, manifest.ramdisk_id, manifest.size) == ("eki-11111111", "eri-22222222", 64 << 20)
    staged = node.run("cat", image).stdout.encode("utf-8", "surrogateescape")
    assert _download_and_unbundle(store, "imager-kept/root.img.manifest.xml", tmp_path, keys) == staged
    rc, tool = _imager(node, store, spec, CACHE, WORK, "bundle", f"in={image}", "bucket=imager-clean", "clean=yes")
    assert rc == 0, tool.errors
    assert tool.output == f"imager-clean/{ROOT}.img.manifest.xml\n"
    assert _keys(store, "imager-clean") == []          # uploaded, then deleted in the cleanup


def test_a_failed_upload_removes_what_it_stored(setup):
    node, store, spec = setup

    class FailingStore(BundleStore):
        puts = 0

        def put_file(self, bucket, key, path, acl, progress=None):
            FailingStore.puts += 1
            if FailingStore.puts == 2:
                raise StoreError(f"uploading {bucket}/{key}: connection reset")
            return super().put_file(bucket, key, path, acl, progress)

    failing = FailingStore(store.s3)
    image = f"/var/lib/nc-harness/images/{ROOT}.img"
    # a small part size: the bundle has several parts, and the second one fails
    small = BundleSpec(**{**spec.__dict__, "part_size": 1 << 16})
    rc, tool = _imager(node, failing, small, CACHE, WORK, "bundle", f"in={image}", "bucket=imager-fail")
    assert rc == 1
    assert tool.errors == [f"bundle: uploading imager-fail/{ROOT}.img.part.01: connection reset"]
    assert _keys(store, "imager-fail") == []


def test_bundle_refusals_are_one_line_and_change_nothing(setup):
    node, store, spec = setup
    before = node.run("find", "/var/lib").stdout
    for argv, rc, error in (
            (["bundle"], 2, "bundle (argument 1): missing mandatory parameter 'bucket'"),
            (["bundle", "bucket=No_Such"], 2, "bundle (argument 1): bucket: 'No_Such' is not 3-63 of a-z 0-9 . - _"),
            (["bundle", "bucket=ok-bucket", "prefix=../up"], 2, "prefix: '../up' is not a plain name"),
            (["bundle", "bucket=ok-bucket", "arch=sparc"], 2, "arch"),
            ([CACHE, WORK, "bundle", "bucket=ok-bucket"], 1,
             "bundle: in: no disk given and no earlier command prepared one"),
            ([CACHE, WORK, "bundle", "bucket=ok-bucket", "in=/nowhere"], 1,
             "bundle: in: /nowhere: not a regular file or a /dev/mapper device on the node"),
            ([CACHE, WORK, "bundle", "bucket=ok-bucket", "in=/dev/mapper/euca-none"], 1,
             "bundle: in: /dev/mapper/euca-none")):
        got, tool = _imager(node, store, spec, *argv)
        assert got == rc, (argv, tool.errors)
        assert error in tool.errors[0], (argv, tool.errors)
        if rc == 2:                       # a bad command line: nothing on the node at all
            assert node.run("find", "/var/lib").stdout == before
    got, tool = _imager(node, None, None, CACHE, WORK, "bundle", "bucket=ok-bucket",
                        f"in=/var/lib/nc-harness/images/{ROOT}.img")
    assert (got, tool.errors) == (1, ["bundle: no object store (set NC_S3_ENDPOINT, and cloud_cert/service_key)"])
    # a failed run leaves its (empty) cache store, as every imager run does, and no device
    assert node.run("find", "/var/lib/imager").stdout == "/var/lib/imager\n/var/lib/imager/cache\n" \
        "/var/lib/imager/cache/.blobstore\n"
    assert node.run("losetup", "-a").stdout == ""


def test_help_bundle_marks_the_bucket_mandatory():
    text = help_text("bundle")
    assert text.startswith("bundle: bundle a disk (tar, gzip, AES-128-CBC, parts, signed manifest)")
    assert "\n  * bucket " in text and "\n    clean " in text
    with pytest.raises(HelpRequested):
        Imager(None, None).check(["help", "bundle"])


def test_the_command_line_needs_an_object_store_and_keys_before_a_node_starts(capsys, monkeypatch, keys):
    from harness.cli.main import main
    monkeypatch.delenv("NC_S3_ENDPOINT", raising=False)
    assert main(["imager", "bundle", "bucket=abc", "in=/x"]) == 2
    assert capsys.readouterr().err == ("nc-harness imager: bundle: no object store: set NC_S3_ENDPOINT (and "
                                       "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)\n")
    monkeypatch.setenv("NC_S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("EC2_USER_ID", "123456789012")
    assert main(["imager", "bundle", "bucket=abc", "in=/x"]) == 2
    assert capsys.readouterr().err == ("nc-harness imager: bundle: global parameter cloud_cert= is needed (a PEM "
                                       "file on this machine)\n")
    assert main(["imager", "cloud_cert=/nonexistent.pem", f"service_key={keys['user_key']}", "bundle",
                 "bucket=abc", "in=/x"]) == 2
    assert capsys.readouterr().err == ("nc-harness imager: global parameters: cloud_cert: /nonexistent.pem: "
                                       "no such file\n")


def test_the_command_line_bundles_to_a_real_s3_endpoint(server, keys, capsys, monkeypatch):
    from harness.cli.main import main
    monkeypatch.setenv("NC_S3_ENDPOINT", server.endpoint)
    monkeypatch.setenv("EC2_USER_ID", "123456789012")
    # the line reaches the node (a fresh simulated one holds no file) and fails there in one line; the
    # credentials appear nowhere
    rc = main(["imager", f"cloud_cert={keys['cloud_cert']}", f"service_key={keys['user_key']}",
               "bundle", "bucket=cli-bucket", "in=/var/tmp/none.img"])
    out, err = capsys.readouterr()
    assert (rc, out) == (1, "")
    assert err == ("nc-harness imager: bundle: in: /var/tmp/none.img: not a regular file or a /dev/mapper device "
                   "on the node\n")
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in out + err
