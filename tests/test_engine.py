"""Issue 3: the engine's behaviour on the simulator: cache reuse, cache pressure, LRU, rollback, restart,
concurrency."""
import threading

import pytest
from engine_fixtures import MB, USER, Node

from engine.blobstore.blob import close_blob, open_blob
from engine.blobstore.clone import MapEntry, clone
from engine.errors import EngineError
from simulator.faults import CrashPoint, Fault


def without_zero(state):
    # euca-zero is created on first need and never removed by the NC
    return dict(state, dm=[line for line in state["dm"]
                           if not line.startswith("euca-zero:") and line != "No devices found"])


def test_warm_cache_reuses_cached_blobs_without_download_or_mkfs():
    node = Node()
    node.run("i-A")
    n = len(node.recorder.commands)
    node.run("i-B")
    second = node.commands_since(n)
    assert not [c for c in second if "/var/lib/nc-harness/images" in c or "mkfs" in c or "mkswap" in c]
    assert sum("dmsetup create" in c for c in second) == 12      # 3 clones x 3 + disk 3
    cache = node.sh("ls /var/lib/eucalyptus/instances/cache").split()
    assert len(cache) == 5
    # both instances' EMI snapshots use the same cached origin loop
    snaps = [line for line in node.sh("dmsetup table").splitlines() if "emi-33333333" in line and "snapshot" in line]
    assert len(snaps) == 2 and snaps[0].split()[4] == snaps[1].split()[4]


def test_cache_full_of_in_use_images_falls_back_to_work_and_touches_nothing_in_use():
    node = Node(cache_mb=40)
    node.run("i-A")
    a_devices = [line for line in node.sh("dmsetup table").splitlines() if "-i-A-" in line]
    cached_before = set(node.sh("ls /var/lib/eucalyptus/instances/cache").split())
    node.run("i-B", emi="emi-44444444")
    work = node.sh(f"ls /var/lib/eucalyptus/instances/work/{USER}/i-B").split()
    assert any(n.startswith("emi-44444444-") and n.endswith(".blocks") for n in work)
    cached_after = set(node.sh("ls /var/lib/eucalyptus/instances/cache").split())
    assert not any(n.startswith("emi-44444444") for n in cached_after)
    in_use = {n for n in cached_before if n.startswith(("emi-", "prt-"))}
    assert in_use <= cached_after                      # A's images are mapped: never purged
    assert [line for line in node.sh("dmsetup table").splitlines() if "-i-A-" in line] == a_devices
    node.nc.terminate_instance("i-A")
    node.nc.terminate_instance("i-B")
    assert node.sh("losetup -a") == ""


def test_lru_evicts_an_unused_blob_with_loop_and_dm_state_in_order():
    node = Node(cache_mb=40)
    cache = node.nc.cache
    # a cached zero-snapshot blob (4.x style): loop + three dm devices, nobody maps it
    bb = open_blob(cache, "prt-old", 16 * MB, create=True, excl=True, sig="old")
    clone(bb, [MapEntry("snapshot", "zero", 0, 0, 16 * MB // 512)])
    close_blob(bb)
    assert "euca-prt-old" in node.sh("dmsetup ls")
    n = len(node.recorder.commands)
    node.run("i-A")                                # needs ~34 MB: the old blob must go
    since = node.commands_since(n)
    first = next(i for i, c in enumerate(since) if "prt-old" in c)
    purge = since[first:first + 4]
    assert purge[:3] == ["/sbin/dmsetup remove euca-prt-old", "/sbin/dmsetup remove euca-prt-old-p0-snap",
                         "/sbin/dmsetup remove euca-prt-old-p0-back"]
    assert purge[3].startswith("/sbin/losetup -d ")
    assert "prt-old" not in node.sh("dmsetup ls") + node.sh("ls /var/lib/eucalyptus/instances/cache")


CREATOR_FAULTS = [
    ("download", r"^/bin/cp /var/lib/nc-harness/images/emi"),
    ("kernel copy", r"^/bin/dd if=.*eki-"),
    ("snapshot clone", r"dmsetup create euca-U1-i-B-emi-.*-p0-snap$"),
    ("key injection", r"^mount "),
    ("ephemeral mkfs", r"^/sbin/mkfs.ext3"),
    ("swap mkswap", r"^/sbin/mkswap"),
    ("disk clone", r"dmsetup create euca-U1-i-B-dsk-[^ ]*$"),
    ("partition table", r"mkpart primary (?!63s)"),
]


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("label,pattern", CREATOR_FAULTS, ids=[c[0] for c in CREATOR_FAULTS])
def test_failure_at_each_creator_rolls_back_exactly(label, pattern, warm):
    node = Node()
    if warm:
        node.run("i-A")
    before = node.state()
    fault = node.host.node.faults.add(Fault(pattern))
    if warm and label in ("download", "ephemeral mkfs", "swap mkswap"):
        node.run("i-B")
        assert fault.fired == 0                     # warm cache: that creator never runs
        return
    with pytest.raises(EngineError):
        node.run("i-B")
    assert fault.fired == 1
    assert without_zero(node.state()) == without_zero(before)
    node.host.node.faults.faults.clear()
    node.run("i-B")                                  # and the node is fit for the next attempt


def test_restart_after_death_mid_build_adopts_running_and_leaves_no_leaks():
    probe = Node()
    probe.run("i-A")
    n = len(probe.recorder.commands)
    probe.run("i-B")
    total = len(probe.recorder.commands) - n
    for k in range(1, total + 1, 3):
        node = Node()
        node.run("i-A")
        a_state = node.state()
        # engine commands only: the file I/O helpers (cat, tee, test, ...) never match
        node.host.node.faults.add(Fault(r"^(/sbin/|/bin/|mount |umount )", nth=k,
                                        crash=True))
        with pytest.raises(CrashPoint):
            node.run("i-B")
        node.host.node.faults.faults.clear()
        node.nc = node.controller()
        node.nc.restart()
        assert "i-A" in node.nc.instances
        after = node.state()
        assert after["losetup"] == a_state["losetup"], f"crash at command {k}"
        assert without_zero(after)["dm"] == without_zero(a_state)["dm"], f"crash at command {k}"
        assert after["mounts"] == a_state["mounts"]
        assert f"{USER}/i-B" not in after["files"]
        node.run("i-B")
        node.nc.terminate_instance("i-A")
        node.nc.terminate_instance("i-B")
        assert node.sh("losetup -a") == "" and node.sh("dmsetup table").startswith("euca-zero")


def test_two_concurrent_builds():
    node = Node()
    errors = []

    def build(inst):
        try:
            node.run(inst)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(i,)) for i in ("i-A", "i-B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(node.nc.instances) == ["i-A", "i-B"]
    assert len(node.sh("ls /var/lib/eucalyptus/instances/cache").split()) == 5
    table = node.sh("dmsetup table")
    assert table.count("-i-A-") == table.count("-i-B-") == 18
    node.nc.terminate_instance("i-A")
    node.nc.terminate_instance("i-B")
    assert node.sh("losetup -a") == ""
    assert node.sh("dmsetup table").startswith("euca-zero") and len(node.sh("dmsetup table").splitlines()) == 1


def test_terminate_leaves_only_euca_zero_and_cache_blobs():
    node = Node()
    node.run("i-A")
    node.nc.terminate_instance("i-A")
    assert node.sh("losetup -a") == ""
    assert node.sh("dmsetup table") == "euca-zero: 0 2199023255552 zero \n"
    assert node.sh(f"ls /var/lib/eucalyptus/instances/work/{USER}") == ""
