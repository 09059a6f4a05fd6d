"""Block devices: the common interface loop, device-mapper and partition devices share."""
from __future__ import annotations

import errno

from .fs.base import FsError

SECTOR = 512


class BlockDevice:
    """A device the kernel knows by (major, minor). Sizes and offsets are in bytes."""

    major = 0
    minor = 0
    read_only = False
    open_count = 0                 # holders: dm tables, mounts, loop devices on top, swap

    def __init__(self) -> None:
        # holder -> how many times it holds this device: euca-zero is held once per disk on the node, and a
        # list's remove() made every release cost the node's size
        self.holders: dict[str, int] = {}

    @property
    def key(self) -> tuple[int, int]:
        return (self.major, self.minor)

    @property
    def devnode(self) -> str:
        raise NotImplementedError

    @property
    def size(self) -> int:
        raise NotImplementedError

    def read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def write(self, offset: int, data: bytes) -> None:
        raise NotImplementedError

    def zero(self, offset: int, length: int) -> None:
        step = 1 << 20
        pos = offset
        while pos < offset + length:
            n = min(step, offset + length - pos)
            self.write(pos, bytes(n))
            pos += n

    def data_ranges(self, offset: int, length: int) -> list[tuple[int, int]]:
        return [(offset, length)] if length > 0 else []

    def discard(self, offset: int, length: int) -> bool:
        """BLKDISCARD; False when the device does not support it."""
        return False

    def check_range(self, offset: int, length: int) -> None:
        if offset < 0 or offset + length > self.size:
            raise FsError(errno.ENOSPC if offset + length > self.size else errno.EINVAL)

    def hold(self, holder: str) -> None:
        self.open_count += 1
        self.holders[holder] = self.holders.get(holder, 0) + 1

    def release(self, holder: str) -> None:
        self.open_count -= 1
        held = self.holders.get(holder, 0)
        if held > 1:
            self.holders[holder] = held - 1
        elif held:
            del self.holders[holder]
