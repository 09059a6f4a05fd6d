"""ext3 write-back, the jbd2 commit and Orlov placement, against what our own node's kernel wrote."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pytest

from harness.backends.sim import SimHost
from simulator.fs.orlov import dx_hash_half_md4, orlov_group

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "uml-own", "ext3-key-injection.txt")
UUID = "11111111-2222-3333-4444-555555555555"
SEED = "66666666-7777-8888-9999-aaaaaaaaaaaa"
BLOCK = 1024


def _recorded() -> dict[str, list[int]]:
    out = {}
    for line in open(FIXTURE):
        if line.strip() and not line.startswith("#"):
            key, _, values = line.partition(":")
            out[key] = [int(v) for v in values.split()]
    return out


def _image():
    host = SimHost(dialect="debian12")
    for command in ("mkdir -p /root /tmp/m", "truncate -s 64M /root/img",
                    f"mkfs.ext3 -q -F -U {UUID} -E hash_seed={SEED} /root/img", "tune2fs /root/img -c 0 -i 0"):
        assert host.run_shell(command).rc == 0, command
    return host, host.node.kernel.vfs.read_file("/root/img")


def _changed(before: bytes, after: bytes) -> list[int]:
    return [b for b in range(len(after) // BLOCK)
            if after[b * BLOCK:(b + 1) * BLOCK] != before[b * BLOCK:(b + 1) * BLOCK]]


def test_key_injection_writes_the_blocks_the_kernel_wrote():
    host, before = _image()
    result = host.run_shell("mount -o loop /root/img /tmp/m && mkdir -p /tmp/m/root/.ssh && "
                            "echo ssh-rsa AAAA test > /tmp/k && cp /tmp/k /tmp/m/root/.ssh/authorized_keys && "
                            "umount /tmp/m")
    assert result.rc == 0, result.stderr
    after = host.node.kernel.vfs.read_file("/root/img")
    recorded = _recorded()
    assert _changed(before, after) == recorded["changed"]
    descriptor = after[787 * BLOCK:788 * BLOCK]
    assert struct.unpack_from(">III", descriptor, 0) == (0xC03B3998, 1, 2)
    tags, pos = [], 12
    while True:
        block, _, flags = struct.unpack_from(">IHH", descriptor, pos)
        tags.append(block)
        pos += 8 + (16 if len(tags) == 1 else 0)
        if flags & 8:
            break
    assert tags == recorded["logged"]
    assert list(struct.unpack_from(">II", after, 786 * BLOCK + 24)) == recorded["journal"]
    if shutil.which("e2fsck"):
        path = f"/tmp/nc-harness-journal-{os.getpid()}.img"
        open(path, "wb").write(after)
        try:
            fsck = subprocess.run(["e2fsck", "-fn", path], capture_output=True, text=True)
            assert fsck.returncode == 0, fsck.stdout
        finally:
            os.unlink(path)


def test_nothing_reaches_the_device_before_a_sync_and_sync_logs_without_checkpointing():
    host, before = _image()
    assert host.run_shell("mount -o loop /root/img /tmp/m").rc == 0
    mounted = host.node.kernel.vfs.read_file("/root/img")
    assert _changed(before, mounted) == [1]   # the mount count and times, in place
    assert host.run_shell("mkdir -p /tmp/m/root/.ssh && echo k > /tmp/m/root/.ssh/authorized_keys").rc == 0
    assert host.node.kernel.vfs.read_file("/root/img") == mounted
    assert host.run_shell("ls /tmp/m/root/.ssh").stdout == "authorized_keys\n"   # read back from the cache
    assert host.run_shell("sync").rc == 0
    synced = host.node.kernel.vfs.read_file("/root/img")
    # the key's data, the journal superblock, descriptor, 9 copies and the commit block; no home metadata yet
    assert _changed(mounted, synced) == [786, 787, 788, 789, 790, 791, 792, 793, 794, 795, 796, 797, 9217]
    assert struct.unpack_from(">II", synced, 786 * BLOCK + 24) == (2, 1)   # sequence 2 starts at block 1
    assert host.run_shell("umount /tmp/m").rc == 0


def test_the_running_transaction_commits_after_five_seconds_of_virtual_time():
    host, _ = _image()
    assert host.run_shell("mount -o loop /root/img /tmp/m && mkdir /tmp/m/a").rc == 0
    mounted = host.node.kernel.vfs.read_file("/root/img")
    host.run_shell("sleep 4")
    assert host.node.kernel.vfs.read_file("/root/img") == mounted
    host.run_shell("sleep 1")
    host.run_shell("true")   # the kernel's timers run between commands
    assert 787 in _changed(mounted, host.node.kernel.vfs.read_file("/root/img"))
    assert host.run_shell("umount /tmp/m").rc == 0


def test_an_empty_mount_leaves_the_journal_alone():
    host, before = _image()
    assert host.run_shell("mount -o loop /root/img /tmp/m && umount /tmp/m").rc == 0
    after = host.node.kernel.vfs.read_file("/root/img")
    assert _changed(before, after) == [1]
    assert struct.unpack_from(">II", after, 786 * BLOCK + 24) == (1, 0)


@pytest.mark.parametrize("seed,name,group", [
    (SEED, b"root", 1),    # the recorded run above: /root in group 1
    (SEED, b"a", 4),       # measured: `mkdir a` logged group 4's bitmaps
    (SEED, b"d", 6),       # measured: inode 12289
    ("0031fdda-4742-448a-8501-d3ce2b90f78d", b"root", 2),   # the reference transcript's node: group 2
])
def test_orlov_puts_top_level_directories_where_the_kernel_did(seed, name, group):
    import uuid
    # a fresh 64 MiB 1.47 ext3: (free inodes, free blocks, directories) per group
    stats = [(2037, 3294, 2)] + [(2048, 7421 if g in (1, 3, 5) else 7678, 0) for g in range(1, 7)] + [(2048, 7420, 0)]
    assert orlov_group(stats, dx_hash_half_md4(name, uuid.UUID(seed).bytes)) == group
