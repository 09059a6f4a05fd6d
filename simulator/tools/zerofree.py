"""zerofree 1.1.1 (Debian 12): zero the free blocks of an unmounted (or read-only mounted) ext2/3/4 filesystem.
Texts measured on this machine's zerofree 1.1.1; `-v`'s progress lines are not modelled."""
from __future__ import annotations

from simulator.fs.base import FsError
from simulator.fs.ext2 import ExtFS

from .base import Abort, Result, tool
from .endpoint import open_endpoint

USAGE = "usage: zerofree [-n] [-v] [-f fillval] filesystem\n"


class _Blocks:
    """What ExtFS reads a filesystem through: the endpoint's bytes."""

    def __init__(self, ep):
        self.ep = ep

    def read(self, offset, length):
        data = self.ep.read(offset, length)
        return data + bytes(length - len(data))

    def write(self, offset, data):
        self.ep.write(offset, data)


@tool("zerofree")
def zerofree(node, argv, stdin):
    args = argv[1:]
    dry_run = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        if args[0] == "-n":
            dry_run = True
        elif args[0] == "-v":
            raise Abort("zerofree: the simulator does not model -v's progress output\n")
        else:
            raise Abort(USAGE)
        args = args[1:]
    if len(args) != 1:
        raise Abort(USAGE)
    path = args[0]
    try:
        ep = open_endpoint(node, path)
        fs = ExtFS(_Blocks(ep), node.clock, read_only=True)
    except FsError:
        raise Abort(f"zerofree: failed to open filesystem {path}\n") from None
    if ep.device is not None:
        key = (ep.device.major, ep.device.minor)
        for m in node.kernel.vfs.mounts:
            if m.device_key == key and "ro" not in m.options.split(","):
                raise Abort(f"zerofree: filesystem {path} is mounted rw\n")
    geo, bs = fs.geo, fs.block_size
    for g in range(geo.groups):
        bitmap = fs._rblock(fs._gd(g)[0])
        start = geo.group_start(g)
        run_start = None
        for i in range(geo.group_blocks(g) + 1):
            free = i < geo.group_blocks(g) and not bitmap[i >> 3] & (1 << (i & 7))
            if free and run_start is None:
                run_start = i
            elif not free and run_start is not None:
                _zero_run(ep, (start + run_start) * bs, (i - run_start) * bs, dry_run)
                run_start = None
    return Result(0)


def _zero_run(ep, offset: int, length: int, dry_run: bool) -> None:
    """Only blocks that hold data are written (zerofree skips blocks already zero), so holes stay holes."""
    for data_off, data_len in ep.data_ranges(offset, length):
        if not dry_run and ep.read(data_off, data_len).count(0) != data_len:
            ep.zero(data_off, data_len)
