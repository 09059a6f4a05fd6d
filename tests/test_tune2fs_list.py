"""tune2fs's options and `tune2fs -l` on the simulator against the real tune2fs 1.47 of this machine, on the same
filesystem bytes: each case builds a filesystem on a simulated node, copies the image out, and lists it with
both."""
import shutil
import subprocess

import pytest

from simulator.node import Node

pytestmark = pytest.mark.skipif(shutil.which("tune2fs") is None, reason="needs the real tune2fs to compare with")

IMG = "/tmp/fs.img"


def _real_version() -> str:
    if shutil.which("mke2fs") is None:
        return ""
    proc = subprocess.run(["mke2fs", "-V"], capture_output=True, text=True)
    return (proc.stderr + proc.stdout).split("\n", 1)[0]


def _listing_matches(node: Node, tmp_path) -> str:
    sim = node.sh(f"tune2fs -l {IMG}")
    assert sim.rc == 0, sim.stderr
    image = tmp_path / "fs.img"
    image.write_bytes(node.kernel.vfs.read_file(IMG))
    real = subprocess.run(["tune2fs", "-l", str(image)], capture_output=True, text=True)
    assert real.returncode == 0, real.stderr
    assert sim.stdout == real.stdout
    return sim.stdout


CASES = {
    "ext3 with a label": "truncate -s 16M {img} && mkfs.ext3 -q -F -L root {img}",
    "ext2, 4 KiB blocks": "truncate -s 48M {img} && mkfs.ext2 -q -F -b 4096 {img}",
    "check interval and counts": "truncate -s 16M {img} && mkfs.ext3 -q -F {img} && tune2fs -c 20 -i 100 -C 5 {img}",
    "weeks, no label change": "truncate -s 16M {img} && mkfs.ext3 -q -F {img} && tune2fs -c 0 -i 3w {img}",
    "mounted, written and unmounted": "truncate -s 16M {img} && mkfs.ext3 -q -F {img} && mkdir -p /mnt/t && "
                                      "mount -o loop {img} /mnt/t && mkdir -p /mnt/t/root/.ssh && "
                                      "echo key > /mnt/t/root/.ssh/authorized_keys && umount /mnt/t",
}


@pytest.mark.skipif("1.47" not in _real_version(), reason="the listing is modelled on e2fsprogs 1.47")
@pytest.mark.parametrize("script", CASES.values(), ids=list(CASES))
def test_listing_is_byte_identical_to_the_real_tune2fs(script, tmp_path):
    node = Node(dialect="debian12")
    assert node.sh(script.format(img=IMG)).rc == 0
    _listing_matches(node, tmp_path)


@pytest.mark.skipif("1.47" not in _real_version(), reason="the listing is modelled on e2fsprogs 1.47")
def test_listing_of_an_el6_layout(tmp_path):
    """The old layout (no resize inode, no hash seed, no overhead count) printed by Debian 12's tune2fs."""
    old = Node(dialect="el6")
    assert old.sh(f"truncate -s 16M {IMG} && mkfs.ext3 -q -F {IMG}").rc == 0
    node = Node(dialect="debian12")
    node.kernel.vfs.write_file(IMG, old.kernel.vfs.read_file(IMG))
    out = _listing_matches(node, tmp_path)
    assert "Overhead clusters" not in out and "Directory Hash Seed" not in out


def test_changes_are_listed_after_they_are_made_and_a_listing_writes_nothing():
    node = Node(dialect="debian12")
    assert node.sh(f"truncate -s 16M {IMG} && mkfs.ext3 -q -F {IMG} && truncate -s 16M /tmp/cow && "
                   f"losetup /dev/loop0 {IMG} && losetup /dev/loop1 /tmp/cow").rc == 0
    assert node.sh("echo '0 32768 snapshot /dev/loop0 /dev/loop1 N 16' | dmsetup create snap").rc == 0
    before = node.sh("dmsetup status snap").stdout
    listed = node.sh("tune2fs -l /dev/mapper/snap")
    assert listed.rc == 0 and "Mount count:              0\n" in listed.stdout
    assert node.sh("dmsetup status snap").stdout == before   # no chunk was copied: nothing was written
    both = node.sh("tune2fs -C 7 -l /dev/mapper/snap")
    assert both.stdout.index("Setting current mount count to 7") < both.stdout.index("Mount count:              7")


def test_el6_listing_is_refused_not_guessed():
    node = Node(dialect="el6")
    assert node.sh(f"truncate -s 16M {IMG} && mkfs.ext3 -q -F {IMG}").rc == 0
    result = node.sh(f"tune2fs -l {IMG}")
    assert result.rc == 1 and "modelled on e2fsprogs 1.47 only" in result.stderr


OPTION_CASES = ["-i -5", "-c 16001", "-c -16001", "-c -1", "-C abc", "-C 70000", "-i 99999999", "-i 5x", "-c 5x",
                "-i ''", "-L abcdefghijklmnopqrst", "-i 10s", "-i 2W", "-i 0x10", "-c 010", "-c 5 -i -5",
                "-i 3w -c 7 -C 2", "-c 5 -c 6", "-x", "-c", "-c5", "-c ''", "-C ''", "-c ' 5'", "-c 0x5"]


@pytest.mark.skipif("1.47" not in _real_version(), reason="the texts are e2fsprogs 1.47's")
@pytest.mark.parametrize("options", OPTION_CASES)
def test_option_values_and_their_errors_like_the_real_tune2fs(options, tmp_path):
    """Values in C's strtol forms, units, ranges, the order changes are applied in, and the error texts."""
    image = tmp_path / "q.img"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext3", "-q", "-F", str(image)], check=True)
    real = subprocess.run(["bash", "-c", f"tune2fs {options} {image}"], capture_output=True, text=True)
    node = Node(dialect="debian12")
    assert node.sh(f"truncate -s 16M {IMG} && mkfs.ext3 -q -F {IMG}").rc == 0
    sim = node.sh(f"tune2fs {options} {IMG}")
    assert (sim.rc, sim.stdout, sim.stderr) == (real.returncode, real.stdout, real.stderr.replace(str(image), IMG))
