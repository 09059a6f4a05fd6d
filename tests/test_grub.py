"""grub-install as the imager runs it (eucalyptus-nc.md 4.9): the simulator's texts and exit statuses are the
ones recorded on our UML node (Debian 12, grub-pc-bin 2.06), and a prepared boot=yes disk gets GRUB in its MBR
through section 5.2's steps, with its partition table kept."""
import pytest
from test_imager import CACHE, WORK, Node

from harness.backends.sim import SimHost
from simulator.tools.grub import BOOT_IMG, GRUBENV

BANNER = "Installing for i386-pc platform.\n"
ARGS = ["grub-install", "--modules=part_msdos ext2", "--root-directory=/tmp/r", "(hd0)"]


@pytest.fixture
def host():
    h = SimHost(dialect="debian12")
    for argv in (["mkdir", "-p", "/tmp/r/boot/grub", "/var/lib/x"], ["truncate", "-s", "8M", "/var/lib/x/blank.img"],
                 ["losetup", "/dev/loop0", "/var/lib/x/blank.img"]):
        assert h.run(argv).rc == 0
    return h


@pytest.mark.parametrize("device_map,argv,err", [
    (None, ARGS, "grub-install: error: disk `hd0' not found.\n"),
    ("(hd0) /dev/mapper/nonexistent\n", ARGS, "grub-install: error: disk `hd0' not found.\n"),
    ("(hd0) /dev/loop0\n", ARGS[:-1], "grub-install: error: install device isn't specified.\n"),
    ("(hd0) /dev/loop0\n", ARGS[:-1] + ["(hd1)"], "grub-install: error: disk `hd1' not found.\n"),
    ("(hd0) /dev/loop0\n", ARGS,
     "grub-install: error: unable to identify a filesystem in hd0; safety check can't be performed.\n"),
])
def test_refusals_print_what_the_real_grub_install_prints(host, device_map, argv, err):
    if device_map is not None:
        host.run(["tee", "/tmp/r/boot/grub/device.map"], device_map)
    result = host.run(argv)
    assert (result.rc, result.stdout, result.stderr) == (1, "", BANNER + err)


def test_a_prepared_boot_disk_gets_grub_in_its_mbr_through_section_5_2():
    node = Node()
    rc, tool = node.imager(CACHE, WORK, "prepare", "boot=yes", "out=dsk-grub", *node.vbrs)
    assert rc == 0, tool.errors
    disk = "/dev/mapper/euca-dsk-grub"
    mbr = node.run("dd", f"if={disk}", "bs=512", "count=1", "status=none").stdout.encode("utf-8", "surrogateescape")
    assert mbr[:440] == BOOT_IMG and mbr[510:] == b"\x55\xaa"
    # the table parted wrote is still there: root first in the table, the boot partition first on disk
    table = node.run("parted", "--script", disk, "unit", "s", "print").stdout
    assert " 1      204863s  335934s  131072s  primary" in table
    assert " 2      63s      204862s  204800s  primary" in table
    part = f"{disk}2"          # libparted adds a `p` only after a digit
    assert node.read_in_fs(part, "boot/grub/device.map") == f"(hd0) {disk}\n".encode()
    assert node.read_in_fs(part, "boot/grub/grubenv") == GRUBENV
    assert node.read_in_fs(part, "boot/grub/grub.cfg").startswith(b"set default=0\n")
    # the grub-probe workaround's loop and the mount are gone; the order is the original's
    assert node.run("losetup", "-a").stdout.count("/dev/dm-") == 0
    commands = [c.text for c in tool.io.recorder.commands]
    at = 0
    for prefix in ("/sbin/losetup -o 0 /dev/loop", "mount /dev/loop", "/bin/sync",
                   "/sbin/dmsetup suspend euca-dsk-grub2", "/sbin/dmsetup resume euca-dsk-grub2",
                   "/sbin/dmsetup suspend euca-dsk-grub",
                   "/sbin/dmsetup resume euca-dsk-grub", "grub-install --modules=part_msdos ext2 --root-directory=",
                   "umount /tmp/euca-mount-", "/sbin/losetup -d /dev/loop"):
        if prefix.startswith("/sbin/losetup -o"):
            at = next(i for i, c in enumerate(commands)
                      if c.startswith(prefix) and c.endswith("/dev/mapper/euca-dsk-grub2"))
            continue
        at = next(i for i in range(at + 1, len(commands)) if commands[i].startswith(prefix))
