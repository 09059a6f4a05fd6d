"""The real backends' shared layer: udev settled after device changes, bounded and recorded retries of a
removal that a udev probe held. Driven by the simulator, whose busy errors are the real tools' texts."""
from harness.backends.realnode import RealNodeHost, changes_devices, is_removal
from harness.backends.sim import SimHost
from simulator.faults import Fault


class SimulatedRealNode(RealNodeHost):
    def __init__(self):
        super().__init__()
        self.sim = SimHost()
        self.node = self.sim.node
        self.issued: list[list[str]] = []

    def run_raw(self, argv, stdin=None):
        self.issued.append(list(argv))
        return self.sim.run(argv, stdin)


def setup_dm(host) -> None:
    for argv, stdin in ((["truncate", "-s", "8M", "/tmp/a"], None), (["losetup", "/dev/loop0", "/tmp/a"], None),
                        (["dmsetup", "create", "x"], "0 16384 linear /dev/loop0 0\n")):
        assert host.run(argv, stdin).rc == 0


def test_device_commands_are_followed_by_udev_settle():
    host = SimulatedRealNode()
    setup_dm(host)
    settles = [a for a in host.issued if a[0] == "udevadm"]
    assert len(settles) == 2                      # after losetup and dmsetup, not after truncate
    assert changes_devices(["bash", "-c", "echo 0 1 zero | dmsetup create z"])
    assert not changes_devices(["cat", "/proc/mounts"])
    # what only lists devices needs no settle after it; what attaches, detaches, creates or writes does
    for query in (["/sbin/losetup", "/dev/loop0"], ["losetup", "-a"], ["/sbin/dmsetup", "table"],
                  ["dmsetup", "info", "-c"], ["dmsetup", "ls"]):
        assert not changes_devices(query), query
    for change in (["/sbin/losetup", "-f", "--show", "/f"], ["/sbin/losetup", "-d", "/dev/loop0"],
                   ["/sbin/losetup", "/dev/loop0", "/f"], ["dmsetup", "create", "x"], ["/sbin/parted", "-s", "/d"]):
        assert changes_devices(change), change
    assert is_removal(["/sbin/dmsetup", "remove", "x"]) and is_removal(["losetup", "-d", "/dev/loop0"])
    assert not is_removal(["dmsetup", "create", "remove"])


def test_a_transiently_busy_removal_is_retried_and_recorded():
    host = SimulatedRealNode()
    setup_dm(host)
    busy = "device-mapper: remove ioctl on x  failed: Device or resource busy\nCommand failed.\n"
    host.node.faults.add(Fault(r"^dmsetup remove x$", times=2, stderr=busy))
    result = host.run(["dmsetup", "remove", "x"])
    assert result.rc == 0
    assert host.retries == ["retried: dmsetup remove x: busy, 2 more time(s), then succeeded"]


def test_a_device_that_stays_busy_fails_as_on_the_node_after_bounded_retries():
    host = SimulatedRealNode()
    setup_dm(host)
    assert host.run(["mkdir", "-p", "/mnt/x"]).rc == 0
    assert host.run(["mkfs.ext3", "-q", "/dev/mapper/x"]).rc == 0
    assert host.run(["mount", "/dev/mapper/x", "/mnt/x"]).rc == 0
    result = host.run(["dmsetup", "remove", "x"])
    assert result.rc == 1 and "Device or resource busy" in result.stderr
    assert host.retries == ["retried: dmsetup remove x: busy, 3 more time(s), still busy"]
    assert sum(a == ["dmsetup", "remove", "x"] for a in host.issued) == 4


def test_a_uml_kernel_the_hosts_cpu_cannot_run_is_one_line_pointing_to_qemu(tmp_path):
    """UML 6.1 on a CPU with a large XSAVE area (AMX) dies at init's first signal; the node says why, not a
    stack dump. The kernel here prints the console lines UML 6.1 printed on such a host, and exits."""
    import pytest

    from harness.nodes.uml import NodeError, UmlNode
    kernel = tmp_path / "linux.uml"
    kernel.write_text("#!/bin/sh\necho 'userspace - ptrace set fp regs failed, errno = 14'\n"
                      "echo 'Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b'\nexit 1\n")
    kernel.chmod(0o755)
    for name in ("rootfs.img", ".done-image"):
        (tmp_path / name).write_text("")
    node = UmlNode(str(tmp_path), boot_timeout=10)
    with pytest.raises(NodeError, match=r"^node exited during boot: UML 6.1 cannot run on this host's CPU .*"
                                        r"use the QEMU node \(--kind qemu, --backend qemu\)$"):
        node.start()
    node.stop()


def test_diff_run_masks_what_depends_on_the_wall_clock_and_nothing_else():
    """dd's elapsed time, and the progress counts mke2fs prints again only after a second has passed (a busy
    QEMU node printed ` 1/26` where the simulator, never slow, printed none); what follows them still counts."""
    from harness.cli.diff_run import _timeless
    fast = "Allocating group tables:  0/26\b\b\b\b\b     \b\b\b\b\bdone                            \n"
    slow = "Allocating group tables:  0/26\b\b\b\b\b 1/26\b\b\b\b\b     \b\b\b\b\bdone                            \n"
    assert _timeless(fast) == _timeless(slow)
    assert _timeless(fast) != _timeless(fast.replace("done", "failed"))
    assert _timeless("1 B copied, 0.01 s, 100 B/s\n") == _timeless("1 B copied, 2.5 s, 0.4 B/s\n")
    assert _timeless("2 B copied, 0.01 s, 100 B/s\n") != _timeless("1 B copied, 0.01 s, 100 B/s\n")
