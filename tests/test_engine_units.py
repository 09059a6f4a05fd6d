"""Issue 3 units: VBR rules, ids, dd/chunk rules, cross-process locks, host reboot, hostile key-injection symlinks."""
import pytest
from engine_fixtures import MB, USER, Node, images, vbrs

from engine.artifacts import alloc_tree
from engine.blobstore.blob import close_blob, open_blob
from engine.blobstore.clone import snapshot_chunk
from engine.blobstore.store import BlobCode, BlobError
from engine.diskutil import dd_block_size
from engine.errors import EngineError
from engine.hashing import convert_id, hexjenkins
from engine.vbr import VbrError, parse_ascii, parse_vbrs, validate
from harness.images.staging import ImageSpec, StagedImages


@pytest.mark.parametrize("spec,message", [
    ("foo:none:1:ext3:sda2:none", "failed to parse resource type 'foo'"),
    ("machine:emi-1234:-1:none:sda1:none", "resourceLocation not specified for non-ephemeral resource"),
    ("machine:emi-1234:-1:none:sda1:ftp://x", "failed to parse resource location 'ftp://x'"),
    ("machine:emi-1234:-1:none:none:http://x/m", "guestDeviceName not specified for resource"),
    ("machine:emi-1234:-1:none:qda1:http://x/m", "failed to parse disk type guestDeviceName 'qda1'"),
    ("machine:emi-1234:-1:none:sda33:http://x/m", "unexpected partition or disk number '33'"),
    ("machine:emi-1234:-1:none:sd:http://x/m", "invalid guestDeviceName 'sd'"),
    ("machine:emi:-1:none:sda1:http://x/m", "failed to parse VBR resource ID 'emi' (use 'none' when no ID)"),
    ("ephemeral0:none:10:fat:sda2:none", "failed to parse resource format 'fat'"),
    ("ephemeral0:none:0:ext3:sda2:none", "invalid size '0' for ephemeral resource"),
    ("machine:emi-1234:-1:ext3:sda1:http://x/m", "invalid format 'ext3' for non-ephemeral resource"),
])
def test_vbr_validation_messages(spec, message):
    with pytest.raises(VbrError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(parse_ascii(spec))


def test_vbr_ascii_keeps_colons_in_location_and_rejects_empty_fields():
    vbr = validate(parse_ascii("machine:emi-1234:-1:none:sda1:http://h:8773/services/Walrus/b/m.xml"))
    assert vbr.location == "http://h:8773/services/Walrus/b/m.xml" and vbr.location_type == "walrus"
    assert (vbr.disk_number, vbr.partition_number, vbr.bus) == (0, 1, "scsi")
    with pytest.raises(VbrError, match="invalid 'id' specification"):
        parse_ascii("machine::-1:none:sda1:none")


@pytest.mark.parametrize("specs,message", [
    (["ephemeral0:none:10:ext3:sda1:none"], "no root partition or disk have been found"),
    (["machine:emi-1111:-1:none:sda1:http://x", "machine:emi-2222:-1:none:sda2:http://x"],
     "more than one EMI specified in the boot record"),
    (["machine:emi-1111:-1:none:sda:http://x", "ephemeral0:none:10:ext3:sda2:none"],
     "specifying both disk and a partition on the disk is not allowed"),
    (["machine:emi-1111:-1:none:sda1:http://x", "swap:none:10:swap:sda3:none"], "gaps in partition table"),
])
def test_vbr_list_rules(specs, message):
    with pytest.raises(VbrError, match=message):
        parse_vbrs([parse_ascii(s) for s in specs])


def test_hash_vectors_and_derived_ids():
    assert hexjenkins("id=none size=104857600 format=ext3\n\n") == "bf42ec05"
    assert hexjenkins("id=none size=536870912 format=none\n\n") == "cbce5fab"
    assert hexjenkins(b"\xe9") == "409848ff"       # signed char, as on x86
    assert convert_id("emi-856C3CDE-ed9bf4f9") == "-856C3CDE" and convert_id("eki-1") == ""
    imgs = images()
    tree = alloc_tree(parse_vbrs(vbrs(imgs)), "i-X", imgs, sshkey="k")
    kernel, ramdisk, disk = tree.deps
    assert kernel.must_be_file and kernel.deps[0].may_be_cached and not kernel.may_be_cached
    assert disk.id.startswith("dsk-33333333-") and disk.must_be_hollow
    keyed = disk.deps[0]
    assert keyed.id == "emi-33333333-" + hexjenkins("KEY /root/.ssh/authorized_keys\nk\n\n")
    assert keyed.do_tune_fs and [d.id[:13] for d in disk.deps[1:]] == ["prt-00008ext3", "prt-00004swap"]
    assert disk.size_bytes == 63 * 512 + 32 * MB


def test_dd_block_size_and_snapshot_chunk_rules():
    assert dd_block_size(0, 0, 4951248) == 16 and 4951248 // 16 == 309453
    assert dd_block_size(0, 0, 4399848) == 8
    assert dd_block_size(512, 0, 8192) == 512
    assert [snapshot_chunk(n) for n in (2867200, 63, 6569984, 100, 18)] == [16, 1, 16, 4, 2]


def test_cross_process_lock_excludes_a_second_controller_until_released():
    node = Node()
    other = node.controller()                    # a second process on the same node
    bb = open_blob(node.nc.cache, "blob-a", MB, create=True, excl=True, sig="s")
    with pytest.raises(BlobError) as exc:
        open_blob(other.cache, "blob-a", timeout=0.2)
    assert exc.value.code is BlobCode.AGAIN
    close_blob(bb)
    close_blob(open_blob(other.cache, "blob-a", sig="s"))


def test_restart_clears_owner_links_of_a_dead_process():
    node = Node()
    open_blob(node.nc.cache, "blob-b", MB, create=True, excl=True, sig="s")   # never closed: the process "dies"
    assert node.sh("find /var/lib/eucalyptus -type l")
    node.nc = node.controller()
    node.nc.restart()
    assert node.sh("find /var/lib/eucalyptus -type l") == ""
    assert "blob-b" not in node.sh("ls /var/lib/eucalyptus/instances/cache")   # abandoned: condemned
    assert node.sh("losetup -a") == ""


def test_restart_after_host_reboot_condemns_everything_that_needed_the_kernel():
    node = Node()
    node.run("i-A")
    node.host.reboot()
    assert node.sh("losetup -a") == "" and "No devices" in node.sh("dmsetup ls")
    node.nc = node.controller()
    node.nc.restart()
    assert node.nc.instances == {}
    assert node.sh(f"ls /var/lib/eucalyptus/instances/work/{USER}") == ""
    assert node.sh("losetup -a") == ""
    node.run("i-B")                                # rebuilds what fsck condemned
    node.nc.terminate_instance("i-B")
    assert node.sh("losetup -a") == ""


@pytest.mark.parametrize("fast_path", [False, True], ids=["nc", "fast-busybox"])
@pytest.mark.parametrize("links", [
    {"/root": "/etc"},
    {"/root/.ssh": "../../../../../etc"},
    {"/root/.ssh/authorized_keys": "/etc/shadow"},
])
def test_key_injection_never_writes_outside_the_guest(links, fast_path):
    node = Node(fast_path=fast_path)
    hostile = ImageSpec("emi-55555555", 20 * MB, "ext3", symlinks=links, files={"/etc/shadow": "guest shadow\n"})
    node.images = StagedImages(list(images().specs.values()) + [hostile])
    node.images.stage(node.host)
    node.nc = node.controller()
    node.host.run(["mkdir", "-p", "/etc"])
    host_files = node.sh("find /etc /tmp")
    node.run("i-H", emi="emi-55555555")
    assert node.sh("find /etc /tmp") == host_files           # nothing new on the host
    assert "authorized_keys" not in host_files
    disk = node.sh(f"readlink /var/lib/eucalyptus/instances/work/{USER}/i-H/link-to-sda").strip()
    part = disk + "p1"
    node.host.run(["mkdir", "-p", "/mnt/check"])
    assert node.host.run(["mount", part, "/mnt/check"]).rc == 0
    found = node.sh("find /mnt/check -name authorized_keys")
    node.host.run(["umount", "/mnt/check"])
    assert found.strip(), "the key went nowhere"


def test_run_rejects_ids_that_could_escape_the_work_store():
    node = Node()
    for bad in ("../x", "i-A/..", "", "a b"):
        with pytest.raises(EngineError, match="invalid id"):
            node.nc.run_instance(bad, USER, vbrs(node.images))
    assert node.sh("losetup -a") == ""


def test_reads_that_fail_raise_and_missing_paths_read_as_absent():
    """A metadata read the node could not answer raises; only a path that is not there reads as absent (an
    I/O error taken for 'absent' had the engine act on metadata it never read)."""
    from engine.diskutil import loop_line
    from engine.nodeio import CommandError, NodeIO
    from harness.backends.sim import SimHost
    from simulator.faults import Fault
    host = SimHost()
    io = NodeIO(host)
    host.run(["truncate", "-s", "1M", "/tmp/f"])
    assert io.read("/tmp/missing") is None and io.readlink("/tmp/missing") is None
    assert io.stat(["/tmp/missing"]) == {} and io.listdir("/tmp/missing") == []
    assert loop_line(io, "/dev/loop0") is None   # nothing attached
    for pattern, call in (("^cat ", lambda: io.read("/tmp/f")), ("^stat ", lambda: io.stat(["/tmp/f"])),
                          ("^readlink ", lambda: io.readlink("/tmp/f")), ("^ls ", lambda: io.listdir("/tmp")),
                          ("losetup /dev/loop0$", lambda: loop_line(io, "/dev/loop0"))):
        host.node.faults.add(Fault(pattern))
        with pytest.raises(CommandError, match="Input/output error|Device or resource busy"):
            call()


def test_a_lock_this_process_does_not_hold_is_not_released_on_the_node():
    """A cleanup path that never got a lock (timed out; another process holds it) must leave that process's
    owner link alone (issue 22: no path releases a lock it does not hold)."""
    from engine.blobstore.locks import LockTable, LockTimeout
    from engine.nodeio import NodeIO, clock_for
    from harness.backends.sim import SimHost
    host = SimHost()
    io = NodeIO(host, clock=clock_for(host))
    host.run(["mkdir", "-p", "/s/b"])
    other = host.process_token()                                  # another live process on the node...
    host.run(["ln", "-s", other, "/s/b/lock.owner"])              # ...holds it
    locks = LockTable(io.clock, io)
    with pytest.raises(LockTimeout):
        locks.acquire("/s/b/lock", 0.2)
    locks.release("/s/b/lock")                                   # a careless cleanup
    assert host.run(["readlink", "/s/b/lock.owner"]).stdout == other + "\n"
    with locks.try_hold("/s/b/other", 0) as held:                # one it does hold is released on the node
        assert held and host.run(["readlink", "/s/b/other.owner"]).stdout.strip() == locks.token
    assert host.run(["readlink", "/s/b/other.owner"]).rc != 0


def test_a_lock_whose_holder_died_is_taken_over_as_an_fcntl_lock_would_be():
    """The original's fcntl locks go with their process; the owner link of a process the node no longer has is
    removed by the next one to want the lock (and a live holder's never is)."""
    from engine.blobstore.locks import LockTable
    from engine.nodeio import NodeIO, clock_for
    from harness.backends.sim import SimHost
    host = SimHost()
    io = NodeIO(host, clock=clock_for(host))
    host.run(["mkdir", "-p", "/s/b"])
    dead = host.process_token()
    host.end_process(dead)
    host.run(["ln", "-s", dead, "/s/b/lock.owner"])
    locks = LockTable(io.clock, io)
    locks.acquire("/s/b/lock", 0.2)
    assert host.run(["readlink", "/s/b/lock.owner"]).stdout.strip() == locks.token
    assert host.run(["kill", "-0", dead.split(".")[0]]).stderr == f"kill: ({dead.split('.')[0]}): No such process\n"
    assert host.run(["kill", "-0", "1"]).rc == 0


def test_a_lock_link_that_fails_with_no_holder_is_tried_again_not_taken_for_contention():
    """A cleanup tries a dependency's lock once (it holds the store's lock meanwhile); an `ln -s` that failed for
    itself (an I/O error, no holder's link behind it) is not another's hold: it is tried again at once, and only
    a lasting failure gives up (CI's --all-commands fault sweep found a terminate leaving the cache blob's loop)."""
    from engine.blobstore.locks import LINK_RETRIES, LockTable, LockTimeout
    from engine.nodeio import NodeIO, clock_for
    from harness.backends.sim import SimHost
    from simulator.faults import Fault
    host = SimHost()
    io = NodeIO(host, clock=clock_for(host))
    host.run(["mkdir", "-p", "/s/b"])
    locks = LockTable(io.clock, io)
    host.node.faults.add(Fault("^ln -s .*/s/b/lock.owner$"))       # once: the sweep's fault
    with locks.try_hold("/s/b/lock", 0) as held:
        assert held and host.run(["readlink", "/s/b/lock.owner"]).stdout.strip() == locks.token
    host.node.faults.add(Fault("^ln -s .*/s/b/lock.owner$", times=LINK_RETRIES + 1))
    with pytest.raises(LockTimeout):
        locks.acquire("/s/b/lock", 0)
