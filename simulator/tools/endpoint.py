"""What tools read and write: a file in some filesystem, a block device, /dev/zero, /dev/null or
/dev/urandom (whose bytes come from the node's seeded RNG, so a run that reads it still repeats)."""
from __future__ import annotations

import errno
import stat as st

from simulator.fs.base import FsError

DEV_NULL = (1, 3)
DEV_ZERO = (1, 5)
DEV_RANDOM = (1, 8)
DEV_URANDOM = (1, 9)
_RANDOM = (DEV_RANDOM, DEV_URANDOM)
_ENDLESS = (DEV_ZERO, *_RANDOM)


class Endpoint:
    kind = "file"

    def __init__(self, node, path: str, fs=None, ino: int = 0, device=None, special=None):
        self.node, self.path, self.fs, self.ino, self.device, self.special = node, path, fs, ino, device, special
        if device is not None:
            self.kind = "device"
        elif special is not None:
            self.kind = "special"

    @property
    def size(self) -> int | None:
        if self.device is not None:
            return self.device.size
        if self.special is not None:
            return None if self.special in _ENDLESS else 0
        return self.fs.getattr(self.ino).size

    def read(self, offset: int, length: int) -> bytes:
        if self.device is not None:
            length = max(0, min(length, self.device.size - offset))
            return self.device.read(offset, length)
        if self.special == DEV_ZERO:
            return bytes(length)
        if self.special in _RANDOM:
            return self.node.rng.randbytes(length)
        if self.special is not None:
            return b""
        return self.fs.read(self.ino, offset, length)

    def write(self, offset: int, data: bytes) -> None:
        if self.device is not None:
            if offset + len(data) > self.device.size:
                raise FsError(errno.ENOSPC)
            self.device.write(offset, data)
        elif self.special is None:
            self.fs.write(self.ino, offset, data)

    def zero(self, offset: int, length: int) -> None:
        if self.device is not None:
            if offset + length > self.device.size:
                raise FsError(errno.ENOSPC)
            self.device.zero(offset, length)
        elif self.special is None:
            self.fs.zero(self.ino, offset, length)

    def data_ranges(self, offset: int, length: int) -> list[tuple[int, int]]:
        if self.device is not None:
            return self.device.data_ranges(offset, length)
        if self.special in _RANDOM:
            return [(offset, length)]
        if self.special is not None:
            return []
        return self.fs.data_ranges(self.ino, offset, length)

    def truncate(self, size: int) -> None:
        if self.kind == "file":
            self.fs.truncate(self.ino, size)


def open_endpoint(node, path: str, write: bool = False, create: bool = False, mode: int = 0o644) -> Endpoint:
    vfs = node.kernel.vfs
    full = node.abspath(path)
    try:
        loc = vfs.walk(full)
    except FsError as exc:
        if not (create and exc.errno == errno.ENOENT):
            raise
        parent, name = vfs.parent(full)
        ino = parent.fs.create(parent.ino, name, mode)
        return Endpoint(node, path, parent.fs, ino)
    attr = loc.fs.getattr(loc.ino)
    if attr.is_dir:
        raise FsError(errno.EISDIR)
    if st.S_ISCHR(attr.mode):
        return Endpoint(node, path, special=attr.rdev)
    if attr.is_blk:
        dev = node.kernel.device(attr.rdev)
        if dev is None:
            raise FsError(errno.ENXIO)
        return Endpoint(node, path, device=dev)
    return Endpoint(node, path, loc.fs, loc.ino)


def copy_range(src: Endpoint, src_off: int, dst: Endpoint, dst_off: int, length: int) -> None:
    """Copy bytes, carrying holes as zero ranges so sparse data stays cheap."""
    step = 1 << 22
    pos = 0
    while pos < length:
        n = min(step, length - pos)
        runs = src.data_ranges(src_off + pos, n)
        cursor = src_off + pos
        for start, run_len in runs:
            start = max(start, cursor)
            end = min(start + run_len, src_off + pos + n)
            if start > cursor:
                dst.zero(dst_off + cursor - src_off, start - cursor)
            if end > start:
                dst.write(dst_off + start - src_off, src.read(start, end - start))
                cursor = end
        if cursor < src_off + pos + n:
            dst.zero(dst_off + cursor - src_off, src_off + pos + n - cursor)
        pos += n
