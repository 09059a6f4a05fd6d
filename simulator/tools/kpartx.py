"""kpartx -l / -a / -d over msdos tables (multipath-tools 0.9.4 output)."""
from __future__ import annotations

from simulator.dm.mapper import DmDevice
from simulator.fs.base import FsError
from simulator.msdos import partition_name, read_table

from .base import Abort, Result, tool
from .endpoint import open_endpoint
from .parted import sync_partition_maps


@tool("kpartx")
def kpartx(node, argv, stdin):
    flags = {a for a in argv[1:] if a.startswith("-")}
    positional = [a for a in argv[1:] if not a.startswith("-")]
    if not positional:
        raise Abort("usage : kpartx [-a|-d|-l] [-f] [-v] wholedisk\n")
    path = positional[0]
    try:
        ep = open_endpoint(node, path)
    except FsError as exc:
        raise Abort(f"{path}: {exc.strerror}\n") from None
    dev = ep.device
    base = dev.name if isinstance(dev, DmDevice) else path.rsplit("/", 1)[-1]
    label = read_table(ep)
    parts = label[1] if label else []
    verbose = "-v" in flags
    if "-l" in flags:
        return Result(0, "".join(f"{partition_name(base, p.number)} : 0 {p.length} {path} {p.start}\n" for p in parts))
    if "-a" in flags:
        if not isinstance(dev, DmDevice):
            raise Abort("kpartx: only device-mapper disks are modelled by the simulator\n")
        sync_partition_maps(node, ep, parts)
        out = ""
        if verbose:
            for p in parts:
                child = node.kernel.dm.get(partition_name(base, p.number))
                out += (f"add map {child.name} ({child.major}:{child.minor}): 0 {p.length} linear "
                        f"{dev.major}:{dev.minor} {p.start}\n")
        return Result(0, out)
    if "-d" in flags:
        out, err = "", ""
        for p in parts:
            child = node.kernel.dm.get(partition_name(base, p.number))
            if child is None:
                continue
            try:
                node.kernel.dm.remove(child)
                if verbose:
                    out += f"del devmap : {child.name}\n"
            except FsError as exc:
                err += f"device-mapper: remove ioctl on {child.name}  failed: {exc.strerror}\n"
        return Result(1 if err else 0, out, err)
    raise Abort("usage : kpartx [-a|-d|-l] [-f] [-v] wholedisk\n")
