"""Recognising what a device holds, as blkid/libparted would."""
from __future__ import annotations

import struct

from .extgeo import COMPAT_HAS_JOURNAL, MAGIC
from .swap import probe_swap


def fs_type(dev, offset: int = 0) -> str | None:
    """'ext2', 'ext3', 'ext4', 'swap' or None for the bytes at `offset` of `dev`."""
    try:
        if dev.size - offset >= 2048:
            sb = dev.read(offset + 1024, 104)
            if struct.unpack_from("<H", sb, 56)[0] == MAGIC:
                compat, incompat = struct.unpack_from("<II", sb, 92)
                if incompat & 0x40 or incompat & 0x200:   # extents / flex_bg
                    return "ext4"
                return "ext3" if compat & COMPAT_HAS_JOURNAL else "ext2"
        if dev.size - offset >= 4096 and dev.read(offset + 4086, 10) == b"SWAPSPACE2":
            return "swap"
    except Exception:  # noqa: BLE001 - an unreadable device simply has no recognisable content
        return None
    return None


__all__ = ["fs_type", "probe_swap"]
