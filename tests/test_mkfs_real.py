"""The simulated mke2fs against the real e2fsprogs 1.47.0: same UUID, hash seed and time, same bytes."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pytest

from harness.backends.sim import SimHost

UUID = "11111111-2222-3333-4444-555555555555"
SEED = "66666666-7777-8888-9999-aaaaaaaaaaaa"

# sizes across mke2fs.conf's types (floppy < 3 MiB <= small < 512 MiB <= default), 1 KiB and 4 KiB blocks,
# one group and many, a journal that fits in group 0 and one that spills over, a trimmed last group, and the
# block count argument the NC passes
CASES = [
    ("3M", "mkfs.ext2 -q -F", ""),
    ("8M", "mkfs.ext3 -q -F", ""),
    ("64M", "mkfs.ext3 -q -F", ""),
    ("100M", "mkfs.ext2 -q -F", ""),
    ("300M", "mkfs.ext3 -q -F", ""),
    ("32M", "mkfs.ext3 -q -b 4096", ""),
    ("700M", "mkfs.ext3 -q -b 1024", ""),
    ("2G", "mkfs.ext3 -q -F", ""),
    ("1400M", "mkfs.ext3 -q -b 4096", "300000"),
    ("67M", "mkfs.ext3 -q -F", ""),
    ("64M", "mkfs.ext2 -q -F -N 128", ""),
    ("64M", "mkfs.ext3 -q -F -i 65536", ""),
    ("300M", "mke2fs -q -F -t ext3 -N 5000 -L /", ""),
]


def _real_mke2fs_147() -> bool:
    if not shutil.which("mke2fs"):
        return False
    out = subprocess.run(["mke2fs", "-V"], capture_output=True, text=True)
    return "1.47.0" in out.stderr + out.stdout


pytestmark = pytest.mark.skipif(not _real_mke2fs_147(), reason="needs the real mke2fs 1.47.0 (e2fsprogs)")


@pytest.mark.parametrize("size,command,blocks", CASES)
def test_simulated_mke2fs_writes_the_real_bytes(tmp_path, size, command, blocks):
    host = SimHost(dialect="debian12")
    host.run_shell(f"mkdir -p /root && truncate -s {size} /root/img")
    argv = f"{command} -U {UUID} -E hash_seed={SEED} /root/img {blocks}".split()
    result = host.run(argv)
    assert result.rc == 0, result.stderr
    simulated = host.node.kernel.vfs.read_file("/root/img")
    made_at = struct.unpack_from("<I", simulated, 1024 + 0x30)[0]   # s_wtime: the virtual clock's second

    real = tmp_path / "img"
    subprocess.run(["truncate", "-s", size, str(real)], check=True)
    subprocess.run(argv[:-2 if blocks else -1] + [str(real)] + ([blocks] if blocks else []), check=True,
                   capture_output=True, env=dict(os.environ, E2FSPROGS_FAKE_TIME=str(made_at)))
    expected = real.read_bytes()
    assert len(simulated) == len(expected)
    if simulated != expected:
        block = 1024 << struct.unpack_from("<I", expected, 1024 + 24)[0]
        first = next(i for i in range(0, len(expected), block) if simulated[i:i + block] != expected[i:i + block])
        pytest.fail(f"first differing block: {first // block} (of {block} bytes)")
    fsck = subprocess.run(["e2fsck", "-fn", str(real)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout


def test_bad_uuid_hash_seed_and_extended_options_as_mke2fs_prints_them():
    host = SimHost(dialect="debian12")
    host.run_shell("mkdir -p /root && truncate -s 8M /root/img")
    bad = host.run(["mkfs.ext3", "-q", "-U", "not-a-uuid", "/root/img"])
    assert (bad.rc, bad.stdout, bad.stderr) == (1, "", "/root/img: could not parse UUID: not-a-uuid\n\n")
    bad = host.run(["mkfs.ext3", "-U", "not-a-uuid", "/root/img"])   # parsed after the discard
    assert bad.stdout.startswith("Discarding device blocks: ")
    assert bad.stderr == "mke2fs 1.47.0 (5-Feb-2023)\n/root/img: could not parse UUID: not-a-uuid\n\n"
    bad = host.run(["mkfs.ext3", "-q", "-E", "bogus=1,hash_seed=xyz", "/root/img"])
    assert bad.rc == 1 and bad.stdout == ""
    assert bad.stderr.startswith("Invalid hash seed: xyz\n\nBad option(s) specified: bogus\n\n"
                                 "Extended options are separated by commas")
    assert bad.stderr.endswith("\tassume_storage_prezeroed=<0 to disable, 1 to enable>\n\n")
    bad = host.run(["mkfs.ext3", "-q", "-E", "root_owner=1:1", "/root/img"])
    assert (bad.rc, bad.stderr) == (1, "mke2fs (simulated): extended option 'root_owner' is not modelled\n")
    assert host.node.kernel.vfs.read_file("/root/img") == bytes(8 << 20)


@pytest.mark.parametrize("options", ["-q -U not-a-uuid", "-U not-a-uuid", "-q -E hash_seed=xyz",
                                     "-E bogus=1,hash_seed=xyz", "-E nodiscard,hash_seed=xyz", "-q -N abc",
                                     "-q -i abc", "-q -i 100", "-q -N 99999999"])
def test_error_texts_are_the_real_ones(tmp_path, options):
    real = tmp_path / "img"
    subprocess.run(["truncate", "-s", "8M", str(real)], check=True)
    want = subprocess.run(["mkfs.ext3", *options.split(), str(real)], capture_output=True, text=True)
    host = SimHost(dialect="debian12")
    host.run_shell(f"mkdir -p {tmp_path} && truncate -s 8M {real}")
    got = host.run(["mkfs.ext3", *options.split(), str(real)])
    assert (got.rc, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
