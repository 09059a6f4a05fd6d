"""Linux swap area v1: the header mkswap writes and the signature at the end of page 0."""
from __future__ import annotations

import struct
import uuid as uuidlib

PAGE = 4096


def make_swap(dev, size_bytes: int, swap_uuid: uuidlib.UUID, label: str = "") -> int:
    """Write the header; returns the number of usable pages."""
    pages = size_bytes // PAGE
    header = bytearray(PAGE)
    # bootbits (1024) | version, last_page, nr_badpages, uuid[16], volume_name[16]
    struct.pack_into("<III", header, 1024, 1, pages - 1, 0)
    header[1036:1052] = swap_uuid.bytes
    name = label.encode()[:16]
    header[1052:1052 + len(name)] = name
    header[PAGE - 10:] = b"SWAPSPACE2"
    dev.write(0, bytes(header))
    return pages


def probe_swap(dev) -> bool:
    if dev.size < PAGE:
        return False
    return dev.read(PAGE - 10, 10) == b"SWAPSPACE2"
