"""parted --script: mklabel msdos, mkpart, rm, unit s print; partition maps on dm disks, as libparted makes them."""
from __future__ import annotations

import re

from simulator.block import SECTOR
from simulator.dm.mapper import DmDevice
from simulator.dm.targets import LinearTarget
from simulator.fs.base import FsError
from simulator.fs.probe import fs_type
from simulator.loop import LoopDevice
from simulator.msdos import TYPE_LINUX, TYPE_SWAP, MbrPartition, partition_name, read_table, write_table

from .base import Abort, Result, tool
from .endpoint import open_endpoint

CLOBBER_SECTORS = 19        # libparted clears this many sectors at each end before writing a label
ALIGN_GRAIN = 2048
_UNITS = {"s": 512, "B": 1, "kB": 1000, "KB": 1000, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_FS_TYPES = {"ext2", "ext3", "ext4", "linux-swap", "linux-swap(v1)", "fat16", "fat32", "xfs", "btrfs", "ntfs", "''", ""}


def _model(ep) -> str:
    dev = ep.device
    if isinstance(dev, DmDevice):
        kind = dev.live[0].name if dev.live else "unknown"
        return f"Linux device-mapper ({kind}) (dm)"
    if isinstance(dev, LoopDevice):
        return "Loopback device (loopback)"
    return "(file)" if dev is None else "Unknown (unknown)"


def _location(text: str, total: int, is_end: bool) -> int:
    m = re.fullmatch(r"(-?[0-9.]+)([A-Za-z%]*)", text)
    if not m:
        raise ValueError(text)
    value, unit = float(m.group(1)), m.group(2) or "MB"
    if unit == "%":
        sector = int(total * value / 100)
        return min(sector, total - 1) if is_end else sector
    if unit not in _UNITS:
        raise ValueError(text)
    sector = int(value * _UNITS[unit] // SECTOR)
    if value < 0:
        sector = total + sector
    if is_end and unit != "s":
        sector -= 1
    return sector


def sync_partition_maps(node, ep, parts: list[MbrPartition]) -> None:
    """libparted's dm path: one linear map per partition, kept when unchanged, removed when gone."""
    disk = ep.device
    if not isinstance(disk, DmDevice):
        return
    dm = node.kernel.dm
    wanted = {partition_name(disk.name, p.number): p for p in parts}
    for number in range(1, 17):
        name = partition_name(disk.name, number)
        dev = dm.get(name)
        if dev is not None and name not in wanted:
            try:
                dm.remove(dev)
            except FsError:
                pass
    for name, p in sorted(wanted.items(), key=lambda kv: kv[1].number):
        dev = dm.get(name)
        target = [LinearTarget(0, p.length, disk, p.start)]
        if dev is None:
            dev = dm.create(name)
            dm.load(dev, target)
            dm.resume(dev)
        else:
            live = dev.live[0] if dev.live and len(dev.live) == 1 else None
            if not (isinstance(live, LinearTarget) and live.dev is disk and live.offset == p.start
                    and live.length == p.length):
                dm.load(dev, target)
                dm.resume(dev)


def _print(node, ep, path: str, label) -> tuple[str, str, int]:
    total = ep.size // SECTOR
    out = (f"Model: {_model(ep)}\nDisk {path}: {total}s\n"
           f"Sector size (logical/physical): 512B/512B\n")
    if label is None:
        out += "Partition Table: unknown\nDisk Flags: \n"
        return out, f"Error: {path}: unrecognised disk label\n", 1
    out += "Partition Table: msdos\nDisk Flags: \n\n"
    rows = [["Number", "Start", "End", "Size", "Type", "File system", "Flags"]]
    for p in label[1]:
        fs = fs_type(ep.device if ep.device is not None else _FileDevice(ep), p.start * SECTOR) or ""
        fs = {"swap": "linux-swap(v1)"}.get(fs, fs)
        rows.append([f" {p.number}", f"{p.start}s", f"{p.end}s", f"{p.length}s", "primary", fs,
                     "boot" if p.boot else ""])
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    for r in rows:
        out += "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() + "\n"
    return out + "\n", "", 0


class _FileDevice:
    """Lets the fs probe read a partition of an image file."""

    def __init__(self, ep):
        self.ep = ep
        self.size = ep.size

    def read(self, offset, length):
        return self.ep.read(offset, length)


@tool("parted")
def parted(node, argv, stdin):
    args = [a for a in argv[1:] if a not in ("--script", "-s", "-a", "optimal", "minimal", "none", "cylinder")]
    if not args:
        raise Abort("Usage: parted [OPTION]... [DEVICE [COMMAND [PARAMETERS]...]...]\n")
    path, words = args[0], args[1:]
    try:
        ep = open_endpoint(node, path, write=True)
    except FsError as exc:
        raise Abort(f"Error: Could not stat device {path} - {exc.strerror}.\n") from None
    if (ep.size or 0) < SECTOR:
        raise Abort("Error: Can't have a partition outside the disk!\n")
    total = ep.size // SECTOR
    out, err, rc = "", "", 0
    unit = "MB"
    while words:
        cmd = words.pop(0)
        label = read_table(ep)
        if cmd == "unit":
            unit = words.pop(0) if words else unit
            continue
        if cmd == "print":
            o, e, r = _print(node, ep, path, label)
            out, err, rc = out + o, err + e, r
            if r:
                break
            continue
        if cmd == "mklabel":
            kind = words.pop(0) if words else ""
            if kind not in ("msdos", "dos"):
                raise Abort(f"Error: The partition table type {kind or '(none)'} is not supported here.\n")
            head = min(CLOBBER_SECTORS, total)
            ep.write(0, bytes(head * SECTOR))
            tail = max(head, total - CLOBBER_SECTORS)
            if tail < total:
                ep.write(tail * SECTOR, bytes((total - tail) * SECTOR))
            write_table(ep, node.rng.randint(1, 0xFFFFFFFF), [])
            sync_partition_maps(node, ep, [])
            continue
        if cmd == "mkpart":
            if label is None:
                err += f"Error: {path}: unrecognised disk label\n"
                rc = 1
                break
            if not words or words[0] not in ("primary", "logical", "extended"):
                raise Abort("Error: Expecting a partition type.\n")
            ptype = words.pop(0)
            fs_hint = ""
            if words and (words[0] in _FS_TYPES or not re.match(r"^-?[0-9.]", words[0])):
                fs_hint = words.pop(0)
            if len(words) < 2:
                raise Abort("Error: Expecting a start and an end.\n" if words else "Error: Expecting a start.\n")
            try:
                start = _location(words.pop(0), total, False)
                end = _location(words.pop(0), total, True)
            except ValueError as exc:
                raise Abort(f'Error: "{exc}" is an invalid number.\n') from None
            for value in (start, end):
                if value < 0 or value >= total:
                    raise Abort(f"Error: The location {value}s is outside of the device {path}.\n")
            if end < start:
                raise Abort("Error: Can't have a partition with a negative size.\n")
            signature, parts = label
            if ptype != "primary":
                raise Abort("Error: only primary partitions are modelled by the simulator.\n")
            if any(not (end < p.start or start > p.end) for p in parts) or start == 0:
                raise Abort("Error: Can't have overlapping partitions.\n")
            used = {p.number for p in parts}
            number = next((n for n in range(1, 5) if n not in used), None)
            if number is None:
                raise Abort("Error: Too many primary partitions.\n")
            code = TYPE_SWAP if fs_hint.startswith("linux-swap") else TYPE_LINUX
            parts.append(MbrPartition(number, start, end - start + 1, code))
            parts.sort(key=lambda p: p.number)
            write_table(ep, signature, parts)
            sync_partition_maps(node, ep, parts)
            if start % ALIGN_GRAIN:
                err += (f"Warning: The resulting partition is not properly aligned for best performance: "
                        f"{start}s % {ALIGN_GRAIN}s != 0s\n")
            continue
        if cmd == "rm":
            if label is None:
                raise Abort(f"Error: {path}: unrecognised disk label\n")
            number = int(words.pop(0)) if words and words[0].isdigit() else -1
            signature, parts = label
            if number not in {p.number for p in parts}:
                raise Abort("Error: Partition doesn't exist.\n")
            parts = [p for p in parts if p.number != number]
            write_table(ep, signature, parts)
            sync_partition_maps(node, ep, parts)
            continue
        raise Abort(f"Error: Unknown command: {cmd}\n")
    node.clock.advance(0.05)
    return Result(rc, out, err)
