"""Bundles in a real S3-protocol server (moto's server mode on loopback, through boto3): upload, download,
delete, multipart, the registry's decrypt-and-cache, and an instance built from registered images."""
import os

import pytest

from engine.images import store as store_mod
from engine.images.bundle import BundleSpec, bundle_image
from engine.images.registry import Registry, RegistryError
from engine.images.store import BundleStore, StoreError, s3_client
from harness.cli.main import main


@pytest.fixture
def store(server):
    return BundleStore(s3_client(server.endpoint))


def make_bundle(tmp_path, keys, name="disk.img", data=None, part_size=20000, **kw):
    image = tmp_path / name
    image.write_bytes(data if data is not None else os.urandom(45000))
    spec = BundleSpec(arch="x86_64", user="123456789012", ec2cert=keys["cloud_cert"], cert=keys["user_cert"],
                      privatekey=keys["user_key"], part_size=part_size, **kw)
    return bundle_image(str(image), str(tmp_path / f"{name}-bundle"), spec)


def published_node(store, registry, keys, tmp_path, bucket, root_name, root_data):
    """EKI, ERI and an EMI bundled, uploaded, registered and cached; a simulated node whose engine fetches
    them from the store. Returns the node's host, the controller and the three walrus:// VBRs."""
    from engine.controller import NodeConfig, NodeController
    from engine.images.s3source import S3ImageSource
    from engine.nodeio import Recorder, VirtualClockAdapter
    from engine.sources import ImageSources
    from engine.vbr import parse_ascii
    from harness.backends.sim import SimHost
    locs = {}
    for name, data, kw in (("vmlinuz", os.urandom(8192), {"kernel": "true"}),
                           ("initrd", os.urandom(4096), {"ramdisk": "true"}), (root_name, root_data, {})):
        path, _ = make_bundle(tmp_path, keys, name, data, part_size=64 * 1024 * 1024, **kw)
        locs[name] = store.upload_bundle(path, bucket).location
    eki, eri = registry.register(locs["vmlinuz"]), registry.register(locs["initrd"])
    emi = registry.register(locs[root_name], kernel=eki.id, ramdisk=eri.id)
    registry.wait()
    host = SimHost(dialect="debian12")
    nc = NodeController(host, NodeConfig(instances_path="/var/lib/eucalyptus/instances", cache_mb=200),
                        ImageSources({"walrus": S3ImageSource(registry)}),
                        clock=VirtualClockAdapter(host.node.clock), recorder=Recorder())
    vbrs = [parse_ascii(v) for v in (f"kernel:{eki.id}:-1:none:none:walrus://{locs['vmlinuz']}",
                                     f"ramdisk:{eri.id}:-1:none:none:walrus://{locs['initrd']}",
                                     f"machine:{emi.id}:-1:none:sda1:walrus://{locs[root_name]}")]
    return host, nc, vbrs


def record_puts(store):
    seen = []

    def hook(request, **_):
        if request.method == "PUT":
            acl = request.headers.get("x-amz-acl")
            seen.append((request.url.split("/", 3)[3], acl.decode() if isinstance(acl, bytes) else acl))
    store.s3.meta.events.register("before-send.s3.*", hook)
    return seen


def test_upload_puts_parts_in_index_order_then_the_manifest_with_aws_exec_read(store, keys, tmp_path):
    path, m = make_bundle(tmp_path, keys)
    seen = record_puts(store)
    done = store.upload_bundle(path, "images-bucket/a/b/")
    assert done.location == "images-bucket/a/b/disk.img.manifest.xml"
    assert seen[0] == ("images-bucket", None)                     # the bucket was missing: created
    assert seen[1:] == [(f"images-bucket/a/b/{p.filename}", "aws-exec-read") for p in m.parts] + \
        [("images-bucket/a/b/disk.img.manifest.xml", "aws-exec-read")]
    seen.clear()
    uploaded = store.upload_bundle(path, "images-bucket", acl="public-read")
    assert uploaded.location == "images-bucket/disk.img.manifest.xml"
    assert all(acl == "public-read" for _, acl in seen)           # an existing bucket: no create
    with pytest.raises(StoreError, match="argument --acl: invalid choice: 'world'"):
        store.upload_bundle(path, "images-bucket", acl="world")


def test_download_checks_every_part_and_leaves_nothing_when_one_is_wrong(store, keys, tmp_path):
    path, m = make_bundle(tmp_path, keys)
    store.upload_bundle(path, "dl-bucket/x")
    got = store.download_bundle("dl-bucket/x/disk.img.manifest.xml", str(tmp_path / "d1"))
    for p in m.parts:
        assert (tmp_path / "d1" / p.filename).read_bytes() == (tmp_path / "disk.img-bundle" / p.filename).read_bytes()
    assert open(got).read() == open(path).read()
    store.s3.put_object(Bucket="dl-bucket", Key=f"x/{m.parts[1].filename}", Body=b"tampered")
    with pytest.raises(StoreError, match=r"disk.img.part.01' appears to be corrupt \(expected SHA1: "):
        store.download_bundle("dl-bucket/x/disk.img.manifest.xml", str(tmp_path / "d2"))
    assert os.listdir(tmp_path / "d2") == []
    assert store.delete_bundle("dl-bucket/x/disk.img.manifest.xml") == \
        [f"x/{p.filename}" for p in m.parts] + ["x/disk.img.manifest.xml"]
    assert store.s3.list_objects_v2(Bucket="dl-bucket").get("KeyCount") == 0


def test_large_parts_go_multipart_and_a_failed_one_leaves_no_upload(store, keys, tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    monkeypatch.setattr(store_mod, "MULTIPART_CHUNK", 5 * 1024 * 1024)
    path, m = make_bundle(tmp_path, keys, "big.img", os.urandom(12 * 1024 * 1024), part_size=64 * 1024 * 1024)
    store.upload_bundle(path, "mp-bucket")
    head = store.s3.head_object(Bucket="mp-bucket", Key="big.img.part.00")
    assert head["ETag"].endswith('-3"')                          # 3 chunks of at most 5 MiB
    calls = []

    def fail_second(**_):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("link dropped mid-upload")
    store.s3.meta.events.register("before-call.s3.UploadPart", fail_second)
    with pytest.raises(Exception):  # noqa: B017 - whatever boto3 wraps the dropped link in
        store.upload_bundle(path, "mp-bucket2")
    assert not store.s3.list_multipart_uploads(Bucket="mp-bucket2").get("Uploads")


def test_register_decrypts_into_the_cache_and_describes_like_euca2ools(store, keys, tmp_path):
    registry = Registry(store, keys["cloud_key"], bucket="reg-a", cache_bucket="cache-a")
    kpath, _ = make_bundle(tmp_path, keys, "vmlinuz", os.urandom(30000), kernel="true")
    kloc = store.upload_bundle(kpath, "kernels").location
    eki = registry.register(kloc)
    assert eki.id.startswith("eki-") and len(eki.id) == 12 and eki.id[4:] == eki.id[4:].upper()
    assert eki.state == "pending"
    registry.wait()
    assert registry.get(eki.id.lower()).state == "available"
    cached = store.s3.get_object(Bucket="cache-a", Key=registry.get(eki.id).cache_key)["Body"].read()
    assert cached == (tmp_path / "vmlinuz").read_bytes()
    mpath, _ = make_bundle(tmp_path, keys, "root.img")
    mloc = store.upload_bundle(mpath, "machines/v1").location
    with pytest.raises(RegistryError, match="MissingParameter: Kernel ID must be specified"):
        registry.register(mloc)
    emi = registry.register(mloc, name="root", kernel=eki.id, ramdisk="eri-00000001")
    registry.wait()
    lines = [i.line() for i in registry.all()]
    assert lines == sorted(lines, key=lambda line: line.split("\t")[1])
    assert f"IMAGE\t{emi.id}\tmachines/v1/root.img.manifest.xml\t123456789012\tavailable\tprivate\tx86_64\tmachine\t" \
           f"{eki.id}\teri-00000001\t\tinstance-store\tparavirtual\t" in lines
    assert f"IMAGE\t{eki.id}\t{kloc}\t123456789012\tavailable\tprivate\tx86_64\tkernel\t\t\t\t\tparavirtual\t" in lines
    assert registry.deregister(emi.id).state == "deregistered"
    assert registry.deregister(emi.id).state == "removed"
    with pytest.raises(RegistryError, match=f"InvalidAMIID.NotFound: The image ID '{emi.id}' does not exist"):
        registry.get(emi.id)


def test_a_bundle_for_another_cloud_fails_registration_with_the_reason(store, keys, tmp_path):
    registry = Registry(store, keys["cloud_key"], bucket="reg-b", cache_bucket="cache-b")
    image = tmp_path / "vmlinuz"
    image.write_bytes(os.urandom(1000))
    path, _ = bundle_image(str(image), str(tmp_path / "o"), BundleSpec(arch="i386", user="1", kernel="true",
                                                                       ec2cert=keys["other_cert"]))
    eki = registry.register(store.upload_bundle(path, "other-cloud").location)
    registry.wait()
    failed = registry.get(eki.id)
    assert failed.state == "failed" and "Failed to decrypt the bundle's encryption key" in failed.reason
    with pytest.raises(RegistryError, match="AuthFailure: Manifest is not accessible"):
        registry.register(store.upload_bundle(path, "other-cloud").location, account="999999999999")


def test_cli_upload_register_describe_deregister(server, keys, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NC_S3_ENDPOINT", server.endpoint)
    path, _ = make_bundle(tmp_path, keys, "initrd.img", os.urandom(5000), ramdisk="true")
    assert main(["image", "upload", "-b", "cli-bucket/r", "-m", path]) == 0
    assert capsys.readouterr().out == "Uploaded cli-bucket/r/initrd.img.manifest.xml\n"
    assert main(["image", "register", "cli-bucket/r/initrd.img.manifest.xml", "--cloud-key", keys["cloud_key"]]) == 0
    out = capsys.readouterr().out
    assert out.startswith("IMAGE\teri-") and out.count("\n") == 1
    eri = out.split("\t")[1].strip()
    assert main(["image", "describe", eri]) == 0
    assert capsys.readouterr().out.startswith(f"IMAGE\t{eri}\tcli-bucket/r/initrd.img.manifest.xml\t123456789012\t"
                                              f"available\tprivate\tx86_64\tramdisk\t")
    assert main(["image", "describe", "emi-DEADBEEF"]) == 1
    assert "InvalidAMIID.NotFound" in capsys.readouterr().err
    assert main(["image", "deregister", eri]) == 0 and capsys.readouterr().out == f"IMAGE\t{eri}\n"
    monkeypatch.delenv("NC_S3_ENDPOINT")
    assert main(["image", "describe"]) == 1
    assert capsys.readouterr().err == ("nc-harness image describe: error: no S3 endpoint: give --endpoint or set "
                                       "NC_S3_ENDPOINT (`nc-harness image serve` runs one)\n")


def test_an_instance_is_built_from_registered_images(store, keys, tmp_path):
    """walrus://BUCKET/KEY VBRs: the id hashes the manifest in the store, the bytes come from the image cache."""
    import subprocess

    from engine.vbr import parse_ascii
    registry = Registry(store, keys["cloud_key"], bucket="reg-c", cache_bucket="cache-c")
    root = tmp_path / "root.img"
    with open(root, "wb") as fh:
        fh.truncate(8 * 1024 * 1024)
    subprocess.run(["mkfs.ext3", "-q", "-F", str(root)], check=True)
    host, nc, vbrs = published_node(store, registry, keys, tmp_path, "run-bucket/v1", "root.img", root.read_bytes())
    nc.run_instance("i-0000B001", "U1", vbrs + [parse_ascii("ephemeral0:none:4194304:ext3:sda2:none")], key=None)
    disk = host.run(["readlink", "-f", "/var/lib/eucalyptus/instances/work/U1/i-0000B001/link-to-sda"]).stdout.strip()
    got = host.run(["dd", f"if={disk}", "bs=512", "skip=63", f"count={8 * 2048}", "status=none"]).stdout
    assert got.encode("utf-8", "surrogateescape") == root.read_bytes()
    kernel = host.run(["cat", "/var/lib/eucalyptus/instances/work/U1/i-0000B001/link-to-kernel"]).stdout
    assert kernel.encode("utf-8", "surrogateescape") == (tmp_path / "vmlinuz").read_bytes()
    nc.terminate_instance("i-0000B001")
    assert host.run(["losetup", "-a"]).stdout == ""


def test_missing_credentials_are_one_line_and_never_echoed(server, capsys, monkeypatch):
    monkeypatch.setenv("NC_S3_ENDPOINT", server.endpoint)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main(["image", "describe"]) == 1
    assert capsys.readouterr().err == ("nc-harness image describe: error: no S3 credentials: set AWS_ACCESS_KEY_ID "
                                       "and AWS_SECRET_ACCESS_KEY (the loopback server of `nc-harness image serve` "
                                       "accepts any)\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSECRETLOOKING")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    assert main(["image", "describe", "emi-00000000"]) == 1
    captured = capsys.readouterr()
    assert "very-secret-value" not in captured.out + captured.err and "AKIDSECRETLOOKING" not in captured.err


def test_a_download_bails_out_when_its_instance_is_terminated(store, keys, tmp_path):
    """terminate during a build: the S3 download stops at its next chunk, the build rolls back, terminate
    returns once it has, and the node is left with nothing of the instance."""
    import threading

    from engine.errors import EngineError
    registry = Registry(store, keys["cloud_key"], bucket="reg-d", cache_bucket="cache-d")
    host, nc, vbrs = published_node(store, registry, keys, tmp_path, "bail-bucket", "big.img",
                                    os.urandom(24 * 1024 * 1024))
    terminated = []

    def terminate_when_the_root_download_starts(params, **_):
        if params.get("Bucket") == "cache-d" and params.get("Key", "").endswith("/big.img") and not terminated:
            terminated.append(threading.Thread(target=nc.terminate_instance, args=("i-0000BA11",)))
            terminated[0].start()
    store.s3.meta.events.register("provide-client-params.s3.GetObject", terminate_when_the_root_download_starts)
    with pytest.raises(EngineError, match="download abandoned: the instance is being terminated"):
        nc.run_instance("i-0000BA11", "U1", vbrs, key=None)
    terminated[0].join(timeout=30)
    assert not terminated[0].is_alive() and "i-0000BA11" not in nc.instances
    assert host.run(["losetup", "-a"]).stdout == "" and host.run(["dmsetup", "ls"]).stdout == "No devices found\n"
    assert host.run(["test", "-e", "/var/lib/eucalyptus/instances/work/U1/i-0000BA11"]).rc != 0


def test_a_download_that_breaks_off_is_started_again(store, keys, tmp_path):
    from botocore.exceptions import ResponseStreamingError

    from engine.images.s3source import S3ImageSource
    from engine.nodeio import NodeIO, VirtualClockAdapter
    from engine.vbr import parse_ascii, validate
    from harness.backends.sim import SimHost
    registry = Registry(store, keys["cloud_key"], bucket="reg-e", cache_bucket="cache-e")
    data = os.urandom(3 * 1024 * 1024 + 5)
    path, _ = make_bundle(tmp_path, keys, "vmlinuz", data, part_size=64 * 1024 * 1024, kernel="true")
    loc = store.upload_bundle(path, "retry-bucket").location
    eki = registry.register(loc)
    registry.wait()
    broken = []

    class BreaksAfterOneChunk:
        def __init__(self, body):
            self.body = body

        def iter_chunks(self, size):
            for i, chunk in enumerate(self.body.iter_chunks(size)):
                if i == 1:
                    raise ResponseStreamingError(error="connection reset by peer")
                yield chunk

    def break_first_transfer(parsed, **_):
        if not broken and parsed.get("ContentLength") == len(data):   # the cached image, not a record
            broken.append(1)
            parsed["Body"] = BreaksAfterOneChunk(parsed["Body"])
    store.s3.meta.events.register("after-call.s3.GetObject", break_first_transfer)
    host = SimHost()
    host.run(["truncate", "-s", str(len(data)), "/tmp/blob"])
    io = NodeIO(host, clock=VirtualClockAdapter(host.node.clock))
    vbr = validate(parse_ascii(f"kernel:{eki.id}:-1:none:none:walrus://{loc}"))
    assert S3ImageSource(registry).fetch(io, vbr, "/tmp/blob") == len(data) and broken
    got = host.run(["dd", "if=/tmp/blob", "bs=1M", "status=none"]).stdout.encode("utf-8", "surrogateescape")
    assert got == data


def test_a_register_whose_store_goes_away_ends_its_worker_quietly(tmp_path, keys, monkeypatch):
    """The registry's background decrypt meeting a stopped S3 server: no exception escapes the thread (pytest's
    PytestUnhandledThreadExceptionWarning, with its traceback, on every run before)."""
    import threading

    from harness.images.s3server import S3Server
    escaped = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))
    with S3Server() as own:
        store = BundleStore(s3_client(own.endpoint, attempts=1))   # one attempt: the refusal comes at once
        path, _ = make_bundle(tmp_path, keys, "k.img", b"k" * 3000, image_type="kernel")
        location = store.upload_bundle(path, "gone-bucket").location
        registry = Registry(store, keys["cloud_key"], bucket="reg-gone", cache_bucket="cache-gone")
        original = store.download_bundle

        def slow_download(*args, **kw):
            stopped.wait(10)            # the server stops while the worker is on its way to the store
            return original(*args, **kw)
        stopped = threading.Event()
        monkeypatch.setattr(store, "download_bundle", slow_download)
        image = registry.register(location)
    stopped.set()
    registry.wait()
    assert escaped == []
    assert image.state == "failed" and image.reason
