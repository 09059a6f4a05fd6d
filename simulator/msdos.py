"""The msdos (MBR) partition table as bytes in sector 0."""
from __future__ import annotations

import struct
from dataclasses import dataclass

TYPE_LINUX = 0x83
TYPE_SWAP = 0x82


@dataclass
class MbrPartition:
    number: int
    start: int      # sectors
    length: int     # sectors
    ptype: int = TYPE_LINUX
    boot: bool = False

    @property
    def end(self) -> int:
        return self.start + self.length - 1


def _chs(lba: int) -> bytes:
    cyl, rem = divmod(lba, 255 * 63)
    head, sector = divmod(rem, 63)
    if cyl > 1023:
        cyl, head, sector = 1023, 254, 62
    return bytes([head, (sector + 1) | ((cyl >> 2) & 0xC0), cyl & 0xFF])


def read_table(dev) -> tuple[int, list[MbrPartition]] | None:
    """(disk signature, primary partitions) or None when sector 0 has no msdos label."""
    if dev.size < 512:
        return None
    sector = dev.read(0, 512)
    if sector[510:512] != b"\x55\xaa":
        return None
    signature = struct.unpack_from("<I", sector, 440)[0]
    parts = []
    for i in range(4):
        entry = sector[446 + 16 * i:462 + 16 * i]
        ptype = entry[4]
        start, length = struct.unpack_from("<II", entry, 8)
        if ptype and length:
            parts.append(MbrPartition(i + 1, start, length, ptype, entry[0] == 0x80))
    return signature, parts


def write_table(dev, signature: int, parts: list[MbrPartition]) -> None:
    sector = bytearray(dev.read(0, 512))
    struct.pack_into("<I", sector, 440, signature)
    sector[444:446] = b"\0\0"
    sector[446:510] = bytes(64)
    for p in parts:
        entry = bytearray(16)
        entry[0] = 0x80 if p.boot else 0
        entry[1:4] = _chs(p.start)
        entry[4] = p.ptype
        entry[5:8] = _chs(p.end)
        struct.pack_into("<II", entry, 8, p.start, p.length)
        sector[446 + 16 * (p.number - 1):462 + 16 * (p.number - 1)] = entry
    sector[510:512] = b"\x55\xaa"
    dev.write(0, bytes(sector))


def partition_name(disk_name: str, number: int) -> str:
    """libparted/kpartx naming: a name ending in a digit gets 'p' before the number."""
    return f"{disk_name}{'p' if disk_name[-1:].isdigit() else ''}{number}"
