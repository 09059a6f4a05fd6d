"""`image resize`: seed 002's hand procedure (a bigger file, mke2fs on a loop device, both filesystems mounted
through loop devices, the tree copied over, unmount, detach), done so that it cannot hurt the old image and
leaves nothing behind on any path.

- The old image is attached read-only (`losetup -r`) and mounted `ro`; it is refused while anything else has it
  attached, and refused when its journal needs recovery (a read-only ext3 mount would replay it in memory only,
  and the copy would miss what the journal holds).
- The new file is sparse (`truncate`), made with the old filesystem's kind (ext3 when it has a journal, else
  ext2), label and UUID, so `LABEL=/` or `UUID=` in the image's fstab still finds its root.
- The tree goes over with `cp -a` (ownership, modes, times, symlinks, device nodes, FIFOs, hard links).
- A size below the blocks the old filesystem uses is refused before anything is made; running out of space
  while copying (metadata of the new filesystem counts too) removes the new file and says so."""
from __future__ import annotations

import re
import struct
import uuid
from contextlib import ExitStack
from dataclasses import dataclass

from engine import diskutil
from engine.nodeio import CommandError, NodeIO

from .mounts import ImageToolError, loop_attached, require_image

SIZE = re.compile(r"^([0-9]+)([KMGT]?)$", re.IGNORECASE)
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
EXT_MAGIC = 0xEF53
INCOMPAT_RECOVER = 0x4
EXT3_INCOMPAT = 0x2 | INCOMPAT_RECOVER | 0x10      # filetype, needs_recovery, meta_bg
EXT3_RO_COMPAT = 0x1 | 0x2 | 0x4                  # sparse_super, large_file, btree_dir
MIN_SIZE = 8 << 20


def default_out(image: str) -> str:
    """Where the new image goes without --out: `new_NAME` beside it, as seed 002 names it."""
    head, _, name = image.rpartition("/")
    return f"{head}/new_{name}" if head else f"new_{name}"


def parse_size(text: str) -> int:
    """Bytes, or a number with K, M, G or T (powers of 1024, as truncate and the seed's 4GB mean them)."""
    m = SIZE.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ImageToolError(f"--size '{text}': a number of bytes, optionally followed by K, M, G or T "
                             "(powers of 1024)")
    return int(m.group(1)) * UNITS[m.group(2).upper()]


@dataclass(frozen=True)
class ExtSuperblock:
    blocks: int
    free_blocks: int
    block_size: int
    has_journal: bool
    needs_recovery: bool
    label: str
    uuid: str

    @property
    def used_bytes(self) -> int:
        return (self.blocks - self.free_blocks) * self.block_size

    @property
    def size_bytes(self) -> int:
        return self.blocks * self.block_size

    @property
    def kind(self) -> str:
        return "ext3" if self.has_journal else "ext2"


def read_superblock(io: NodeIO, image: str) -> ExtSuperblock:
    """The primary superblock, read with dd through the host interface; ext2/3 only."""
    raw = io.quiet(["dd", f"if={image}", "bs=1024", "skip=1", "count=1", "status=none"],
                   check=False).stdout.encode("utf-8", "surrogateescape")
    if len(raw) < 1024 or struct.unpack_from("<H", raw, 56)[0] != EXT_MAGIC:
        raise ImageToolError(f"{image}: not an ext2/ext3 filesystem image (no ext superblock at 1024)")
    blocks, _r, free = struct.unpack_from("<III", raw, 4)
    log_block = struct.unpack_from("<I", raw, 24)[0]
    compat, incompat, ro_compat = struct.unpack_from("<III", raw, 92)
    if incompat & ~EXT3_INCOMPAT or ro_compat & ~EXT3_RO_COMPAT:
        raise ImageToolError(f"{image}: an ext4 filesystem (features beyond ext3: incompat {incompat:#x}, "
                             f"ro_compat {ro_compat:#x}); only ext2/ext3 images are resized")
    label = raw[120:136].split(b"\0", 1)[0].decode("ascii", "replace")
    return ExtSuperblock(blocks, free, 1024 << log_block, bool(compat & 0x4), bool(incompat & INCOMPAT_RECOVER),
                         label, str(uuid.UUID(bytes=bytes(raw[104:120]))))


@dataclass(frozen=True)
class Resized:
    image: str
    out: str
    old: ExtSuperblock
    new_size: int

    def line(self) -> str:
        return (f"{self.image}: {self.old.kind}, {self.old.size_bytes} bytes, {self.old.used_bytes} in use -> "
                f"{self.out}: {self.new_size} bytes")


def resize(io: NodeIO, image: str, size: int, out: str, token) -> Resized:
    require_image(io, image)
    old = read_superblock(io, image)
    holders = io.quiet(["/sbin/losetup", "-j", image], check=False).stdout.strip()
    if holders:
        raise ImageToolError(f"{image}: attached to {holders.split(':', 1)[0]}; unmount and detach it first")
    if old.needs_recovery:
        raise ImageToolError(f"{image}: its journal needs recovery (not cleanly unmounted); run e2fsck -fy on it")
    if size < old.used_bytes:
        raise ImageToolError(f"{image}: {old.used_bytes} bytes in use; --size {size} bytes cannot hold them")
    if size < MIN_SIZE:
        raise ImageToolError(f"--size {size} bytes: the new image must be {MIN_SIZE >> 20} MiB at least")
    if io.exists(out):
        raise ImageToolError(f"{out}: exists; resize never overwrites a file")
    made = False
    try:
        io.cmd(["truncate", "-s", str(size), out])
        made = True
        with ExitStack() as stack:
            old_dev = stack.enter_context(loop_attached(io, image, read_only=True))
            new_dev = stack.enter_context(loop_attached(io, out))
            mkfs = ["/sbin/mke2fs", "-q", "-t", old.kind, "-U", old.uuid] + (["-L", old.label] if old.label else [])
            made_fs = io.cmd(mkfs + [new_dev], check=False)
            if made_fs.rc != 0:
                raise ImageToolError(f"{out}: mke2fs failed: {(made_fs.stderr or made_fs.stdout).strip()}")
            try:
                src = stack.enter_context(diskutil.mounted(io, old_dev, f"/tmp/nc-harness-old-{token(6)}", True))
                dst = stack.enter_context(diskutil.mounted(io, new_dev, f"/tmp/nc-harness-new-{token(6)}"))
            except CommandError as exc:
                raise ImageToolError(f"{image}: cannot mount: {exc.stderr.strip()}") from None
            copied = io.cmd(["/bin/cp", "-a", f"{src}/.", f"{dst}/"], check=False)
            if copied.rc != 0:
                first = copied.stderr.strip().splitlines()[0] if copied.stderr.strip() else f"exit {copied.rc}"
                why = "out of space" if "No space left on device" in copied.stderr else "copy failed"
                raise ImageToolError(f"{out}: {why} copying the tree ({first})")
            io.cmd(["/bin/sync"])
    except BaseException:
        if made:
            io.unlink(out)
        raise
    return Resized(image, out, old, size)
