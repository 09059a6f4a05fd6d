"""Per-tool behaviour of the simulator, error paths included (texts from the real tools)."""
import shutil
import subprocess

import pytest

from simulator.node import Node


@pytest.fixture
def node():
    n = Node(dialect="debian12")
    assert n.sh("mkdir -p /disk1 && truncate -s 16M /disk1/a && truncate -s 16M /disk1/b").rc == 0
    return n


@pytest.fixture
def el6():
    n = Node(dialect="el6")
    assert n.sh("mkdir -p /disk1 && truncate -s 16M /disk1/a").rc == 0
    return n


def test_losetup_attach_list_detach(node):
    assert node.sh("losetup -o 0 /dev/loop0 /disk1/a").rc == 0
    out = node.sh("losetup -a").stdout
    assert out.startswith("/dev/loop0: [25104]:") and out.endswith(" (/disk1/a)\n")
    assert node.sh("losetup /dev/loop0").stdout == out
    assert node.sh("losetup -j /disk1/a").stdout == out
    assert node.sh("losetup -d /dev/loop0").rc == 0
    assert node.sh("losetup -a").stdout == ""


def test_losetup_busy_device(node):
    node.sh("losetup /dev/loop0 /disk1/a")
    r = node.sh("losetup /dev/loop0 /disk1/b")
    assert (r.rc, r.stderr) == (1, "losetup: /disk1/b: failed to set up loop device: Device or resource busy\n")


def test_losetup_missing_file_and_unbound_detach(node):
    r = node.sh("losetup /dev/loop0 /disk1/nope")
    assert r.rc == 1 and r.stderr == "losetup: /disk1/nope: failed to set up loop device: No such file or directory\n"
    r = node.sh("losetup -d /dev/loop3")
    assert (r.rc, r.stderr) == (1, "losetup: /dev/loop3: detach failed: No such device or address\n")


def test_losetup_find_show_creates_devices_beyond_boot_set(node):
    for i in range(9):
        assert node.sh("losetup -f --show /disk1/a").stdout == f"/dev/loop{i}\n"
    assert node.sh("losetup -f").stdout == "/dev/loop9\n"


def test_losetup_offset_and_kernfs_order(node):
    node.sh("losetup -o 512 /dev/loop1 /disk1/a && losetup /dev/loop0 /disk1/b")
    lines = node.sh("losetup -a").stdout.splitlines()
    assert lines[0].startswith("/dev/loop1:") and lines[0].endswith("(/disk1/a), offset 512")


def test_busy_detach_is_deferred_on_modern_kernels_and_refused_on_el6(node, el6):
    for n in (node, el6):
        n.sh("losetup /dev/loop0 /disk1/a && echo '0 100 linear /dev/loop0 0' | dmsetup create x")
    assert node.sh("losetup -d /dev/loop0").rc == 0
    assert node.sh("losetup -a").stdout != ""        # still held by dm
    node.sh("dmsetup remove x")
    assert node.sh("losetup -a").stdout == ""        # autoclear once released
    r = el6.sh("losetup -d /dev/loop0")
    assert (r.rc, r.stderr) == (1, "ioctl: LOOP_CLR_FD: Device or resource busy\n")


def test_el6_losetup_format_is_hex_device_and_cut_path(el6):
    long = "/disk1/" + "x" * 70
    el6.sh(f"truncate -s 1M {long} && losetup /dev/loop0 {long}")
    line = el6.sh("losetup -a").stdout
    assert line.startswith("/dev/loop0: [0803]:") and line.endswith(long[:62] + "*)\n")


def test_dmsetup_create_errors(node):
    node.sh("echo '0 10 zero' | dmsetup create z")
    r = node.sh("echo '0 10 zero' | dmsetup create z")
    assert r.rc == 1 and r.stderr == ("device-mapper: create ioctl on z  failed: Device or resource busy\n"
                                      "Command failed.\n")
    r = node.sh("echo 'garbage' | dmsetup create y")
    assert r.rc == 1 and r.stderr == "Invalid format on line 1 of table on stdin\nCommand failed.\n"
    r = node.sh("echo '0 10 linear /dev/loop5 0' | dmsetup create y")     # unbound loop: size 0
    assert r.rc == 1 and "reload ioctl on y (253:1) failed: Invalid argument" in r.stderr   # as on the real node
    r = node.sh("echo '0 10 linear /dev/nothere 0' | dmsetup create y")
    assert r.rc == 1 and "reload ioctl on y (253:1) failed: No such device\n" in r.stderr
    assert node.sh("dmsetup ls").stdout == "z\t(253:0)\n"     # failed creates leave nothing behind


def test_dmsetup_table_validation_like_the_kernel(node):
    node.sh("losetup /dev/loop0 /disk1/a")
    for table in ("0 40000 linear /dev/loop0 0", "10 10 zero", "0 10 frobnicate",
                  r"0 10 zero\n20 10 zero", "0 10 snapshot /dev/loop0 /dev/loop0 n 16",
                  "0 10 snapshot /dev/loop0 /dev/loop1 x 16"):
        r = node.sh(f"echo -e '{table}' | dmsetup create bad")
        assert r.rc == 1 and "Invalid argument" in r.stderr or "No such device" in r.stderr, (table, r.stderr)
    assert node.sh("dmsetup ls").stdout == "No devices found\n"


def test_dmsetup_remove_busy_and_missing(node):
    node.sh("echo '0 10 zero' | dmsetup create z && echo '0 10 linear /dev/mapper/z 0' | dmsetup create top")
    r = node.sh("dmsetup remove z")
    assert r.stderr == "device-mapper: remove ioctl on z  failed: Device or resource busy\nCommand failed.\n"
    r = node.sh("dmsetup remove no-such-dev")
    assert r.stderr == ("device-mapper: remove ioctl on no-such-dev  failed: No such device or address\n"
                        "Command failed.\n")
    assert node.sh("dmsetup remove top && dmsetup remove z").rc == 0


def test_dmsetup_minors_reused_lowest_first(node):
    for name in "abc":
        node.sh(f"echo '0 8 zero' | dmsetup create {name}")
    node.sh("dmsetup remove b")
    node.sh("echo '0 8 zero' | dmsetup create d")
    assert "d\t(253:1)" in node.sh("dmsetup ls").stdout


def test_dmsetup_table_named_suspend_resume_reload(node):
    node.sh("echo '0 8 zero' | dmsetup create z")
    assert node.sh("dmsetup table z").stdout == "0 8 zero \n"
    node.sh("dmsetup suspend z")
    assert " L-sw " in node.sh("dmsetup info -c").stdout
    node.sh("echo '0 16 zero' | dmsetup reload z")
    assert "LIVE & INACTIVE" in node.sh("dmsetup info z").stdout
    node.sh("dmsetup resume z")
    assert node.sh("dmsetup table z").stdout == "0 16 zero \n"
    r = node.sh("dmsetup table nope")
    assert r.rc == 1


def test_snapshot_copy_on_write_through_the_stack(node):
    node.sh("printf 'ORIGINAL' > /tmp/o && dd if=/tmp/o of=/disk1/a conv=notrunc status=none")
    node.sh("losetup /dev/loop0 /disk1/a && losetup /dev/loop1 /disk1/b")
    node.sh("echo '0 32768 linear /dev/loop1 0' | dmsetup create back")
    node.sh("echo '0 32768 snapshot /dev/loop0 /dev/mapper/back N 16' | dmsetup create snap")
    node.sh("printf 'CHANGED!' > /tmp/c && dd if=/tmp/c of=/dev/mapper/snap conv=notrunc status=none")
    assert node.sh("dd if=/dev/mapper/snap of=/tmp/r bs=8 count=1 status=none && cat /tmp/r").stdout == "CHANGED!"
    assert node.sh("dd if=/disk1/a of=/tmp/r bs=8 count=1 status=none && cat /tmp/r").stdout == "ORIGINAL"
    assert node.sh("dd if=/disk1/b of=/tmp/r bs=8 count=1 status=none && cat /tmp/r").stdout == "CHANGED!"
    assert node.sh("dmsetup status snap").stdout == "0 32768 snapshot 16/32768 0\n"


def test_dd_summary_and_errors(node):
    r = node.sh("dd if=/disk1/a of=/disk1/c bs=16 count=309453 conv=notrunc,fsync")
    lines = r.stderr.splitlines()
    assert lines[:2] == ["309453+0 records in", "309453+0 records out"]
    assert lines[2].startswith("4951248 bytes (5.0 MB, 4.7 MiB) copied, ")
    r = node.sh("dd if=/nope of=/disk1/c")
    assert (r.rc, r.stderr) == (1, "dd: failed to open '/nope': No such file or directory\n")


def test_mkfs_output_and_real_superblock(node):
    node.sh("losetup /dev/loop2 /disk1/a")
    r = node.sh("mkfs.ext3 -b 4096 /dev/loop2 4096")
    assert r.stderr == "mke2fs 1.47.0 (5-Feb-2023)\n"
    assert "Creating filesystem with 4096 4k blocks and 4096 inodes\n" in r.stdout
    assert "Creating journal (1024 blocks): done\n" in r.stdout
    assert node.sh("dd if=/dev/loop2 of=/tmp/sb bs=1 skip=1080 count=2 status=none && cat /tmp/sb").stdout == "S\udcef"
    r = node.sh("mkfs.ext3 -b 1000 /dev/loop2")
    assert r.rc == 1 and "invalid block size" in r.stderr


def test_mkswap_signature_and_output(node):
    node.sh("losetup /dev/loop4 /disk1/a")
    r = node.sh("mkswap /dev/loop4 16384")
    assert r.stdout.startswith("Setting up swapspace version 1, size = 16 MiB (16773120 bytes)\nno label, UUID=")
    out = node.sh("dd if=/dev/loop4 of=/tmp/s bs=1 skip=4086 count=10 status=none && cat /tmp/s")
    assert out.stdout == "SWAPSPACE2"
    assert node.sh("mkswap /dev/loop4 999999").rc == 1


def test_tune2fs_sets_superblock_fields(node):
    node.sh("mkfs.ext3 -q -F /disk1/a")
    r = node.sh("tune2fs /disk1/a -c 0 -i 0")
    assert r.stdout == ("tune2fs 1.47.0 (5-Feb-2023)\nSetting maximal mount count to -1\n"
                        "Setting interval between checks to 0 seconds\n")
    r = node.sh("tune2fs /disk1/b -c 0")
    assert r.rc == 1 and "Bad magic number in super-block" in r.stderr


def test_mount_files_live_in_device_bytes(node):
    node.sh("mkfs.ext3 -q -F /disk1/a && losetup /dev/loop0 /disk1/a && mkdir -p /mnt/x")
    assert node.sh("mount /dev/loop0 /mnt/x && mkdir -p /mnt/x/root/.ssh && echo key > /mnt/x/root/.ssh/k"
                   " && ln -s /etc /mnt/x/link && umount /mnt/x").rc == 0
    assert node.sh("ls /mnt/x").stdout == ""
    node.sh("losetup -d /dev/loop0 && cp /disk1/a /disk1/copy && losetup /dev/loop3 /disk1/copy")
    assert node.sh("mount /dev/loop3 /mnt/x && cat /mnt/x/root/.ssh/k").stdout == "key\n"
    assert "link -> /etc" in node.sh("ls -l /mnt/x").stdout


def test_mount_errors_and_busy(node):
    node.sh("losetup /dev/loop0 /disk1/b && mkdir -p /mnt/x")
    r = node.sh("mount /dev/loop0 /mnt/x")
    assert r.rc == 32 and "wrong fs type, bad option, bad superblock on /dev/loop0" in r.stderr
    r = node.sh("mount /dev/loop0 /nope")
    assert r.rc == 32 and r.stderr.startswith("mount: /nope: mount point does not exist.")
    node.sh("mkfs.ext3 -q -F /dev/loop0 && mount /dev/loop0 /mnt/x")
    r = node.sh("echo '0 100 linear /dev/loop0 0' | dmsetup create held && losetup -d /dev/loop0")
    assert node.sh("umount /mnt/x").rc == 0
    r = node.sh("umount /mnt/x")
    assert (r.rc, r.stderr) == (32, "umount: /mnt/x: not mounted.\n")


def test_parted_on_dm_disk_names_partition_maps(node):
    node.sh("truncate -s 64M /disk1/d && losetup /dev/loop0 /disk1/d")
    node.sh("echo '0 131072 linear /dev/loop0 0' | dmsetup create disk-a")
    node.sh("echo '0 131072 linear /dev/loop0 0' | dmsetup create disk-7")
    for disk in ("disk-a", "disk-7"):
        assert node.sh(f"parted --script /dev/mapper/{disk} mklabel msdos").rc == 0
        r = node.sh(f"parted --script /dev/mapper/{disk} mkpart primary  63s 65535s")
        assert r.stderr.startswith("Warning: The resulting partition is not properly aligned")
    names = node.sh("dmsetup ls").stdout
    assert "disk-a1\t" in names and "disk-7p1\t" in names
    node.sh("parted --script /dev/mapper/disk-a mklabel msdos")
    assert "disk-a1\t" not in node.sh("dmsetup ls").stdout
    r = node.sh("parted --script /dev/mapper/disk-7 mkpart primary 63s 999999s")
    assert r.rc == 1 and "outside of the device" in r.stderr


def test_parted_without_label(node):
    node.sh("losetup /dev/loop0 /disk1/b")
    r = node.sh("parted --script /dev/loop0 unit s print")
    assert r.rc == 1 and r.stderr == "Error: /dev/loop0: unrecognised disk label\n"
    assert "Partition Table: unknown\n" in r.stdout


def test_shell_glue(node):
    assert node.sh("echo a; false && echo no || echo yes").stdout == "a\nyes\n"
    assert node.sh('echo -e "x\\ny" | sort').stdout == "x\ny\n"
    assert node.sh("nosuch").rc == 127
    assert node.sh("echo 'unterminated").rc == 2


@pytest.mark.skipif(shutil.which("e2fsck") is None, reason="e2fsprogs not installed")
def test_ext3_written_by_the_simulator_passes_real_e2fsck(node, tmp_path):
    node.sh("mkfs.ext3 -q -F /disk1/a && losetup /dev/loop0 /disk1/a && mkdir -p /m && mount /dev/loop0 /m")
    node.sh("mkdir -p /m/root/.ssh && echo k > /m/root/.ssh/authorized_keys && chmod 600 /m/root/.ssh/authorized_keys"
            " && ln -s ../etc/passwd /m/p && rm /m/p && umount /m")
    image = tmp_path / "a.img"
    loc = node.kernel.vfs.walk("/disk1/a")
    with open(image, "wb") as fh:
        fh.truncate(16 << 20)
        for index, page in sorted(loc.fs.inodes[loc.ino].data.pages.items()):
            fh.seek(index * 4096)
            fh.write(page)
    proc = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_losetup_warns_about_partial_sectors_like_util_linux_2_38():
    # observed on the uml node (util-linux 2.38.1): stderr only, rc 0; el6's 2.17 prints nothing
    from simulator.node import Node
    node = Node()
    node.sh("truncate -s 1000 /f; truncate -s 100 /g; truncate -s 1024 /h")
    r = node.run(["losetup", "-f", "--show", "/f"])
    assert (r.rc, r.stdout) == (0, "/dev/loop0\n")
    assert r.stderr == ("losetup: /f: Warning: file does not fit into a 512-byte sector; the end of the file "
                        "will be ignored.\n")
    assert node.run(["losetup", "-o", "0", "/dev/loop1", "/g"]).stderr == (
        "losetup: /g: Warning: file is smaller than 512 bytes; the loop device may be useless or invisible "
        "for system tools.\n")
    assert node.run(["losetup", "-f", "/h"]).stderr == ""
    assert node.sh("blockdev --getsize64 /dev/loop0").stdout in ("512\n", "")
    el6 = Node(dialect="el6")
    el6.sh("truncate -s 1000 /f")
    assert el6.run(["losetup", "-f", "/f"]).stderr == ""


def test_tune2fs_rewrites_every_superblock_copy_like_ext2fs_flush():
    # on the real node, tune2fs -c 0 -i 0 through a fresh transient snapshot of an 8-group ext3 COWs
    # 80 sectors: the primary and the 4 sparse_super backups (groups 1, 3, 5, 7), one 8 KiB chunk each
    from simulator.node import Node
    node = Node()
    node.sh("mkdir -p /d && truncate -s 64M /d/c.img /d/w.img && mkfs.ext3 -q -F /d/c.img && "
            "losetup -o 0 /dev/loop0 /d/c.img && losetup -o 0 /dev/loop1 /d/w.img")
    node.sh("echo '0 131072 linear /dev/loop1 0' | dmsetup create b")
    node.sh("echo '0 131072 snapshot /dev/loop0 /dev/mapper/b n 16' | dmsetup create s")
    assert node.sh("tune2fs /dev/mapper/s -c 0 -i 0").rc == 0
    assert node.sh("dmsetup status s").stdout == "0 131072 snapshot 80/131072 0\n"
    group1 = node.kernel.device_at("/dev/mapper/s").read(8193 * 1024, 1024)
    assert group1[56:58] == b"\x53\xef" and group1[90:92] == b"\x01\x00"   # magic, s_block_group_nr


def test_a_dm_table_past_2_to_the_54_sectors_is_out_of_device_bounds():
    """Measured on the UML node (Debian 12's 6.1 kernel, lvm2 2.03): 2^54 - 1 sectors load, 2^54 do not, and
    the failed create leaves no device."""
    from simulator.node import Node
    node = Node()
    ok = node.run(["dmsetup", "create", "big"], "0 18014398509481983 zero\n")
    assert (ok.rc, ok.stderr) == (0, "")
    assert node.run(["dmsetup", "remove", "big"]).rc == 0
    for length in ("18014398509481984", "99999999999999999999999"):
        bad = node.run(["dmsetup", "create", "big"], f"0 {length} zero\n")
        assert (bad.rc, bad.stderr) == (1, "device-mapper: reload ioctl on big (253:0) failed: Invalid argument\n"
                                           "Command failed.\n")
        assert node.run(["dmsetup", "ls"]).stdout == "No devices found\n"


def test_a_bad_losetup_offset_is_util_linux_2_38s_parse_error():
    """Measured on the UML node: `losetup -o -5 /dev/loop0 FILE` and `-o abc` exit 1 with strtosize_or_err's
    text."""
    from simulator.node import Node
    node = Node()
    node.run(["truncate", "-s", "1M", "/tmp/f"])
    for value in ("-5", "abc"):
        out = node.run(["losetup", "-o", value, "/dev/loop0", "/tmp/f"])
        assert (out.rc, out.stderr) == (1, f"losetup: failed to parse offset: '{value}': Invalid argument\n")


def test_cmp_says_what_diffutils_3_8_says():
    """Texts measured on the UML node (diffutils 3.8); a difference past the first 64 KiB block is found too."""
    from harness.backends.sim import SimHost
    host = SimHost()
    host.run_shell('cd /tmp; printf "abc\\nxyz" > a; printf "abc\\nxyq" > b; printf "abc\\n" > c; : > e')
    host.run(["dd", "of=/tmp/big1", "bs=1M", "status=none"], "x" * 300000)
    host.run(["dd", "of=/tmp/big2", "bs=1M", "status=none"], "x" * 200001 + "y" + "x" * 99998)
    for argv, expected in (
            (["cmp", "/tmp/a", "/tmp/a"], (0, "", "")),
            (["cmp", "/tmp/a", "/tmp/b"], (1, "/tmp/a /tmp/b differ: byte 7, line 2\n", "")),
            (["cmp", "/tmp/a", "/tmp/c"], (1, "", "cmp: EOF on /tmp/c after byte 4, line 1\n")),
            (["cmp", "/tmp/c", "/tmp/a"], (1, "", "cmp: EOF on /tmp/c after byte 4, line 1\n")),
            (["cmp", "/tmp/e", "/tmp/a"], (1, "", "cmp: EOF on /tmp/e which is empty\n")),
            (["cmp", "/tmp/a", "/tmp/nope"], (2, "", "cmp: /tmp/nope: No such file or directory\n")),
            (["cmp", "/tmp/big1", "/tmp/big2"], (1, "/tmp/big1 /tmp/big2 differ: byte 200002, line 1\n", ""))):
        result = host.run(argv)
        assert (result.rc, result.stdout, result.stderr) == expected, argv


def test_mount_refuses_a_device_a_dm_table_claims_as_the_real_kernel_does():
    """Seen on the UML node: mounting an instance's emi work copy while its disk's table maps it."""
    from harness.backends.sim import SimHost
    host = SimHost(dialect="debian12")
    for argv in (["truncate", "-s", "8M", "/tmp/fs.img"], ["mkfs.ext3", "-q", "-F", "/tmp/fs.img"],
                 ["losetup", "/dev/loop0", "/tmp/fs.img"], ["mkdir", "/tmp/m"]):
        assert host.run(argv).rc == 0
    assert host.run(["dmsetup", "create", "top"], "0 16384 linear /dev/loop0 0\n").rc == 0
    busy = host.run(["mount", "/dev/loop0", "/tmp/m"])
    assert (busy.rc, busy.stderr) == (32, "mount: /tmp/m: /dev/loop0 already mounted or mount point busy.\n"
                                          "       dmesg(1) may have more information after failed mount system call.\n")
    assert host.run(["mount", "-o", "ro", "/dev/mapper/top", "/tmp/m"]).rc == 0   # the top of the stack mounts
    assert host.run(["umount", "/tmp/m"]).rc == 0
    assert host.run(["dmsetup", "remove", "top"]).rc == 0
    assert host.run(["mount", "/dev/loop0", "/tmp/m"]).rc == 0


_LINK_SCRIPT = [
    "mkdir -p {d}/a/b/c {d}/x", "ln -s ../b/c {d}/a/b/l", "ln -s {d}/a/b {d}/x/abs", "ln -s nothere {d}/x/dang",
    "ln -s /nope/zz {d}/x/dang2", "touch {d}/x/f", "ln -s f {d}/x/lf",
    "readlink -f {d}/x/abs/l", "readlink -e {d}/x/abs/l", "readlink -f {d}/x/new", "readlink -e {d}/x/new",
    "readlink -f {d}/nope/new", "readlink -f {d}/x/dang", "readlink -f {d}/x/dang2", "readlink {d}/x/abs",
    "readlink -f {d}/x/abs/../c", "readlink -f {d}/x/abs/l/", "stat -c %F {d}/x/abs/l/", "ls -d {d}/x/lf/",
    "ls -d {d}/x/f/", "ls -d {d}/x/abs/l/",
]


def _link_transcript(run, d: str) -> list[tuple[str, int, str, str]]:
    out = []
    for line in _LINK_SCRIPT:
        cmd = line.format(d=d)
        rc, stdout, stderr = run(cmd)
        out.append((line, rc, stdout.replace(d, "D"), stderr.replace(d, "D")))
    return out


@pytest.mark.skipif(shutil.which("readlink") is None, reason="needs GNU coreutils to compare with")
def test_symlinks_readlink_f_and_trailing_slash_like_coreutils(node, tmp_path):
    """A trailing slash follows the last link; readlink -f/-e canonicalize: compared with this machine's tools."""
    real_dir = str(tmp_path / "lt")

    def real(cmd):
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
        return proc.returncode, proc.stdout, proc.stderr

    def sim(cmd):
        r = node.run(["bash", "-c", cmd])
        return r.rc, r.stdout, r.stderr

    assert _link_transcript(sim, "/tmp/lt") == _link_transcript(real, real_dir)


def test_node_has_the_usual_special_files_and_sticky_tmp(node):
    """/dev/urandom reads the node's seeded RNG (same seed, same bytes; another seed, others), /tmp and
    /var/tmp are 1777, and stat names character devices and FIFOs as coreutils does."""
    listing = node.sh("stat -c '%a %F' /tmp /var/tmp /dev/urandom /dev/random /dev/null")
    assert listing.stdout == ("1777 directory\n1777 directory\n666 character special file\n"
                              "666 character special file\n666 character special file\n")
    assert node.sh("mknod /tmp/fifo p && stat -c %F /tmp/fifo").stdout == "fifo\n"
    script = "dd if=/dev/urandom of=/tmp/r bs=1k count=4 status=none"
    same, other = Node(dialect="debian12"), Node(dialect="debian12", seed=5)
    for n in (node, same, other):
        assert n.sh(script).rc == 0
    data = node.kernel.vfs.read_file("/tmp/r")
    assert len(data) == 4096 and len(set(data)) > 200
    assert data == same.kernel.vfs.read_file("/tmp/r") != other.kernel.vfs.read_file("/tmp/r")


@pytest.mark.parametrize("size,expected", [("1k", 1024), ("1kB", 1000), ("1KB", 1000), ("1kiB", 1024),
                                           ("2b", 1024), ("3w", 6), ("1MB", 10**6), ("2x3", 6)])
def test_dd_size_suffixes_like_coreutils(node, size, expected):
    assert node.sh(f"dd if=/dev/zero of=/tmp/s bs={size} count=1 status=none && stat -c %s /tmp/s").stdout == \
        f"{expected}\n"


@pytest.mark.parametrize("size", ["1m", "1kb", "1Ki", "1iB"])
def test_dd_rejects_the_suffixes_coreutils_rejects(node, size):
    result = node.sh(f"dd if=/dev/zero of=/tmp/s bs={size} count=1")
    assert result.rc == 1 and result.stderr == f"dd: invalid number: '{size}'\n"


MKDIR_CASES = ["touch {d}/f && mkdir -p {d}/f/x/y {d}/ok/z; ls -d {d}/ok/z", "cd {d} && touch g && mkdir -p g/x/y",
               "touch {d}/f && mkdir -p {d}/f", "touch {d}/f && mkdir -p {d}//f/x/",
               "mkdir -p {d}/a/b/c && ls -d {d}/a/b/c",
               "cd {d} && touch g && mkdir -p ./g/x", "cd {d} && mkdir -p h/../h/./i && ls -d h/i",
               "mkdir -p {d}/d && ln -s {d}/d {d}/l && mkdir -p {d}/l/x/y && ls -d {d}/d/x/y"]


@pytest.mark.parametrize("case", MKDIR_CASES)
def test_mkdir_p_names_the_component_it_failed_on_like_coreutils(case, tmp_path):
    real_dir = str(tmp_path / "m")
    real = subprocess.run(["bash", "-c", f"mkdir -p {real_dir} && " + case.format(d=real_dir)], capture_output=True,
                          text=True, env={"LANG": "C", "PATH": "/usr/bin:/bin"})
    sim = Node(dialect="debian12").sh("mkdir -p /tmp/m && " + case.format(d="/tmp/m"))
    assert (sim.rc, sim.stdout, sim.stderr) == (real.returncode, real.stdout.replace(real_dir, "/tmp/m"),
                                                real.stderr.replace(real_dir, "/tmp/m"))
