"""Parsing dm tables the way dmsetup reads them and validating them the way the kernel does."""
from __future__ import annotations

import errno
import re
from dataclasses import dataclass

from simulator.block import SECTOR, BlockDevice
from simulator.errors import SimulatorError
from simulator.fs.base import FsError

from .targets import ErrorTarget, LinearTarget, SnapshotTarget, Target, ZeroTarget

_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\S+)\s*(.*?)\s*$")


class TableSyntaxError(SimulatorError):
    """dmsetup's own complaint, before anything reaches the kernel."""


@dataclass
class TargetSpec:
    start: int
    length: int
    kind: str
    args: list[str]


# dm_table_add_target: `start + len > LLONG_MAX >> SECTOR_SHIFT` is "Out of device bounds" (measured on the
# UML node: 2^54 - 1 sectors load, 2^54 fail with EINVAL)
MAX_SECTORS = (2**63 - 1) >> 9


def parse_table_text(text: str, source: str) -> list[TargetSpec]:
    specs = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise TableSyntaxError(f"Invalid format on line {number} of table {source}")
        specs.append(TargetSpec(int(m.group(1)), int(m.group(2)), m.group(3), m.group(4).split()))
    return specs


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def build_targets(specs: list[TargetSpec], resolve) -> list[Target]:
    """Turn specs into targets or raise FsError with the errno the table-load ioctl returns.

    `resolve(arg)` maps a device argument (path or major:minor) to a BlockDevice.
    """
    if not specs:
        raise FsError(errno.EINVAL, "Empty table")
    targets: list[Target] = []
    next_start = 0
    for spec in specs:
        if spec.start != next_start or spec.length == 0:
            raise FsError(errno.EINVAL, "Gap in table")
        next_start = spec.start + spec.length
        if next_start > MAX_SECTORS:
            raise FsError(errno.EINVAL, "Out of device bounds")
        targets.append(_build(spec, resolve))
    return targets


def _device_fits(dev: BlockDevice, start_sector: int, length: int) -> None:
    if (start_sector + length) * SECTOR > dev.size:
        raise FsError(errno.EINVAL, f"{dev.devnode} too small for target")


def _int(text: str) -> int:
    if not text.isdigit():
        raise FsError(errno.EINVAL, "Invalid argument")
    return int(text)


def _build(spec: TargetSpec, resolve) -> Target:
    kind, args = spec.kind, spec.args
    if kind == "linear":
        if len(args) != 2:
            raise FsError(errno.EINVAL, "Invalid argument count")
        offset = _int(args[1])
        dev = resolve(args[0])
        _device_fits(dev, offset, spec.length)
        return LinearTarget(spec.start, spec.length, dev, offset)
    if kind == "zero":
        if args:
            raise FsError(errno.EINVAL, "No arguments required")
        return ZeroTarget(spec.start, spec.length)
    if kind == "error":
        return ErrorTarget(spec.start, spec.length)
    if kind == "snapshot":
        if len(args) != 4:
            raise FsError(errno.EINVAL, "requires exactly 4 arguments")
        persistent = args[2].upper()
        if persistent not in ("P", "N"):
            raise FsError(errno.EINVAL, "Persistent flag is not P or N")
        chunk = _int(args[3])
        if not _is_power_of_two(chunk):
            raise FsError(errno.EINVAL, "Chunk size is not a power of 2")
        origin = resolve(args[0])
        cow = resolve(args[1])
        if origin is cow:
            raise FsError(errno.EINVAL, "COW device cannot be the same as origin device")
        _device_fits(origin, 0, spec.length)
        if cow.size < chunk * SECTOR * (3 if persistent == "P" else 1):
            raise FsError(errno.EINVAL, "Couldn't create exception store")
        return SnapshotTarget(spec.start, spec.length, origin, cow, persistent == "P", chunk)
    raise FsError(errno.EINVAL, "unknown target type")
