"""BundleInstance on the simulator against the loopback S3 server: the running instance's root (with the key
injected into it) becomes a bundle, is registered, and a second instance boots from it holding that key; the
instance's own devices stay untouched; cancel mid-upload leaves nothing behind."""
import engine_fixtures as ef
import pytest

from engine.bundling import BundleTaskError, InstanceBundler
from engine.images.bundle import BundleSpec
from engine.images.registry import Registry
from engine.images.s3source import S3ImageSource
from engine.images.store import BundleStore, s3_client
from engine.sources import ImageSources
from engine.vbr import parse_ascii


@pytest.fixture
def setup(server, keys):
    store = BundleStore(s3_client(server.endpoint))
    node = ef.Node()
    node.run("i-00000001")
    # the node signs with its own key; the cloud cert is both the wrap target and the "user" cert (seed 004)
    spec = BundleSpec(arch="x86_64", user="123456789012", ec2cert=keys["cloud_cert"], cert=keys["cloud_cert"],
                      privatekey=keys["user_key"])
    return node, store, InstanceBundler(node.nc, store, spec)


def test_bundle_register_and_boot_a_second_instance_holding_the_first_ones_key(setup, keys, server):
    node, store, bundler = setup
    before = node.state()
    task = bundler.bundle_instance("i-00000001", "bundles-a", "snap1", wait=True)
    assert (task.state, task.progress, task.error) == ("complete", 100, "")
    assert task.line().startswith("BUNDLE\tbun-00000001\ti-00000001\tbundles-a\tsnap1\t")
    assert task.line().endswith("\tcomplete\t100%\tbundles-a/snap1.manifest.xml")
    assert node.state() == before                       # devices untouched, no clone or bundle directory left
    assert any("/bundle/snap1 bs=4096" in c for c in node.commands_since(0))   # NC's dd clone of the root
    registry = Registry(store, keys["cloud_key"], bucket="reg-bi", cache_bucket="cache-bi")
    emi = registry.register("bundles-a/snap1.manifest.xml", kernel="eki-11111111", ramdisk="eri-22222222")
    registry.wait()
    assert registry.get(emi.id).state == "available"
    node.nc.images = ImageSources({"file": node.images, "walrus": S3ImageSource(registry)})
    loc = {i: s.location for i, s in node.images.specs.items()}
    vbrs = [parse_ascii(v) for v in (f"kernel:eki-11111111:-1:none:none:{loc['eki-11111111']}",
                                     f"ramdisk:eri-22222222:-1:none:none:{loc['eri-22222222']}",
                                     f"machine:{emi.id}:-1:none:sda1:walrus://bundles-a/snap1.manifest.xml",
                                     "ephemeral0:none:4194304:ext3:sda2:none")]
    node.nc.run_instance("i-00000002", ef.USER, vbrs, key=None)
    # the root as the guest sees it, partition 1 of the disk (the disk's table claims the emi copy under it,
    # and a kernel will not mount a claimed device)
    from harness.scenario.stepkit import guest_root
    dev = guest_root(node.host, "i-00000002", "check")[len("/dev/mapper/"):]
    assert node.host.run(["mkdir", "-p", "/mnt/check"]).rc == 0
    assert node.host.run(["mount", f"/dev/mapper/{dev}", "/mnt/check"]).rc == 0
    assert node.sh("cat /mnt/check/root/.ssh/authorized_keys") == ef.KEY
    assert node.host.run(["umount", "/mnt/check"]).rc == 0
    # the same instance bundles again under another prefix
    assert bundler.bundle_instance("i-00000001", "bundles-a", "snap2", wait=True).state == "complete"
    # Eucalyptus' bundle id is the instance's (i- becomes bun-): one task per instance, the latest
    assert [(t.bundle_id, t.prefix, t.state) for t in bundler.describe()] == [("bun-00000001", "snap2", "complete")]


def test_cancel_mid_upload_deletes_what_was_stored_and_the_clone(setup):
    node, store, bundler = setup
    before = node.state()
    stored = []

    def cancel_after_first(params, **_):
        stored.append(params["Key"])
        if len(stored) == 2:
            bundler.cancel("bun-00000001")
    store.s3.meta.events.register("provide-client-params.s3.PutObject", cancel_after_first)
    task = bundler.bundle_instance("i-00000001", "bundles-b", "snapc", wait=True)
    assert (task.state, task.error) == ("cancelled", "") and len(stored) >= 2
    assert store.s3.list_objects_v2(Bucket="bundles-b").get("KeyCount") == 0
    assert not store.s3.list_multipart_uploads(Bucket="bundles-b").get("Uploads")
    assert node.state() == before


def test_bundle_instance_refuses_bad_requests(setup):
    node, store, bundler = setup
    with pytest.raises(BundleTaskError, match="InvalidState: instance i-0000FFFF is not running"):
        bundler.bundle_instance("i-0000FFFF", "bucket", "prefix")
    with pytest.raises(BundleTaskError, match="InvalidParameterValue: bucket 'a/b' is not"):
        bundler.bundle_instance("i-00000001", "a/b", "prefix")
    with pytest.raises(BundleTaskError, match="InvalidBundleID.NotFound: bun-12345678"):
        bundler.cancel("bun-12345678")


def test_a_failed_upload_is_reported_and_cleaned_up(setup, keys):
    node, store, _ = setup
    before = node.state()
    broken = BundleStore(s3_client("http://127.0.0.1:9", attempts=1))   # nothing listens on the discard port
    bundler = InstanceBundler(node.nc, broken, BundleSpec(arch="x86_64", user="1", ec2cert=keys["cloud_cert"]))
    task = bundler.bundle_instance("i-00000001", "bundles-c", "snapf", wait=True)
    assert task.state == "failed" and "bundles-c" in task.error
    assert node.state() == before


def test_create_image_bundles_then_registers_with_name_and_mappings(setup, keys):
    from engine.bundling import create_image
    node, store, bundler = setup
    registry = Registry(store, keys["cloud_key"], bucket="reg-ci", cache_bucket="cache-ci")
    image, task = create_image(bundler, registry, "i-00000001", "web server v1", "built by CreateImage",
                               {"ephemeral0": "sda2"})
    registry.wait()
    got = registry.get(image.id)
    assert (got.state, got.name, got.description, got.kernel_id, got.ramdisk_id, got.block_device_mapping) == \
        ("available", "web server v1", "built by CreateImage", "eki-11111111", "eri-22222222", {"ephemeral0": "sda2"})
    assert got.location == "nc-harness-images/web-server-v1.manifest.xml" and task.state == "complete"
    assert node.nc.instances["i-00000001"].state == "running"          # NoReboot (the default) keeps it
    with pytest.raises(BundleTaskError, match="InvalidAMIName.Malformed"):
        create_image(bundler, registry, "i-00000001", "x")
    create_image(bundler, registry, "i-00000001", "last image", no_reboot=False)
    assert "i-00000001" not in node.nc.instances and node.sh("losetup -a") == ""
