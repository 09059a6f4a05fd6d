"""dd (coreutils): operands, record counts and the transfer summary on stderr."""
from __future__ import annotations

from simulator.fs.base import FsError

from .base import Abort, Result, tool
from .endpoint import copy_range, open_endpoint

_MULT = {"c": 1, "w": 2, "b": 512, "kB": 1000, "KB": 1000, "k": 1024, "K": 1024, "kiB": 1024, "KiB": 1024}
for _i, _p in enumerate("MGTPE", 2):   # coreutils' xstrtoumax: X, XiB (powers of 1024), XB (of 1000)
    _MULT.update({_p: 1 << (10 * _i), _p + "iB": 1 << (10 * _i), _p + "B": 10 ** (3 * _i)})

# Throughput the virtual clock charges: a fixed cost per record plus bytes at 400 MB/s.
RECORD_COST = 1e-6
BYTE_RATE = 400e6


def parse_number(text: str, operand: str) -> int:
    total = 1
    for factor in text.split("x"):
        digits = factor.rstrip("cwbkKMGTPEBi")
        suffix = factor[len(digits):]
        if not digits.isdigit() or (suffix and suffix not in _MULT):
            raise Abort(f"dd: invalid number: '{text}'\n")
        total *= int(digits) * _MULT.get(suffix, 1)
    return total


def human(n: float, base: int) -> str:
    units = ["", "k", "M", "G", "T", "P"] if base == 1000 else ["", "Ki", "Mi", "Gi", "Ti", "Pi"]
    i = 0
    value = float(n)
    while value >= base and i < len(units) - 1:
        value /= base
        i += 1
    if i == 0:
        return f"{int(n)} B"
    if value < 10:
        text = f"{value:.1f}"
        if float(text) >= 10:
            text = "10"
    else:
        text = f"{value:.0f}"
    if base == 1000 and i == 1:
        return f"{text} kB"
    return f"{text} {units[i]}B"


def summary(node, in_full, in_part, out_full, out_part, total, seconds) -> str:
    lines = f"{in_full}+{in_part} records in\n{out_full}+{out_part} records out\n"
    seconds = max(seconds, 1e-6)
    rate = human(total / seconds, 1000) + "/s"
    si, iec = human(total, 1000), human(total, 1024)
    t = f"{seconds:g} s"
    if node.dialect.coreutils.startswith("8"):
        return lines + f"{total} bytes ({si}) copied, {t}, {rate}\n"
    if total < 1000 or si.endswith(" B"):
        return lines + f"{total} byte{'s' if total != 1 else ''} copied, {t}, {rate}\n"
    if iec.endswith(" B"):
        return lines + f"{total} bytes ({si}) copied, {t}, {rate}\n"
    return lines + f"{total} bytes ({si}, {iec}) copied, {t}, {rate}\n"


def _to_stdout(node, ops, src, data_in: bytes, src_off: int, want: int, ibs: int, obs: int) -> Result:
    data = data_in[src_off:src_off + want] if src is None else src.read(src_off, want)
    in_full, in_part = divmod(want, ibs)
    out_full, out_part = divmod(want, obs)
    seconds = (in_full + in_part) * RECORD_COST + want / BYTE_RATE
    node.clock.advance(seconds)
    text = "" if ops.get("status") in ("none", "noxfer") else summary(
        node, in_full, 1 if in_part else 0, out_full, 1 if out_part else 0, want, seconds)
    return Result(0, data.decode("utf-8", "surrogateescape"), text)


@tool("dd")
def dd(node, argv, stdin):
    ops: dict[str, str] = {}
    for arg in argv[1:]:
        key, eq, value = arg.partition("=")
        if not eq or key not in ("if", "of", "bs", "ibs", "obs", "count", "seek", "skip", "conv",
                                 "iflag", "oflag", "status"):
            raise Abort(f"dd: unrecognized operand '{arg}'\nTry 'dd --help' for more information.\n")
        ops[key] = value
    bs = parse_number(ops["bs"], "bs") if "bs" in ops else None
    ibs = bs or (parse_number(ops["ibs"], "ibs") if "ibs" in ops else 512)
    obs = bs or (parse_number(ops["obs"], "obs") if "obs" in ops else 512)
    if ibs == 0 or obs == 0:
        raise Abort("dd: invalid number: '0'\n")
    conv = set(filter(None, ops.get("conv", "").split(",")))
    count = parse_number(ops["count"], "count") if "count" in ops else None
    skip = parse_number(ops.get("skip", "0"), "skip")
    seek = parse_number(ops.get("seek", "0"), "seek")
    in_path, out_path = ops.get("if"), ops.get("of")
    if in_path is None:
        data_in = (stdin or "").encode(errors="surrogateescape")
    try:
        src = open_endpoint(node, in_path) if in_path else None
    except FsError as exc:
        raise Abort(f"dd: failed to open '{in_path}': {exc.strerror}\n") from None
    src_off, dst_off = skip * ibs, seek * obs
    if src is None:
        available = max(0, len(data_in) - src_off)
    else:
        size = src.size
        available = (1 << 62) if size is None else max(0, size - src_off)
    want = available if count is None else min(available, count * ibs)
    if count is None and src is not None and src.size is None:
        raise Abort("dd: copying an endless input needs count=\n")
    if out_path is None:
        return _to_stdout(node, ops, src, data_in if src is None else b"", src_off, want, ibs, obs)
    try:
        dst = open_endpoint(node, out_path, write=True, create=True)
    except FsError as exc:
        raise Abort(f"dd: failed to open '{out_path}': {exc.strerror}\n") from None
    if "notrunc" not in conv and dst.kind == "file":
        dst.truncate(dst_off)
    err = ""
    written = want
    try:
        if dst.kind == "device" and dst_off + want > dst.size:
            written = max(0, (dst.size - dst_off) // obs * obs) if dst.size > dst_off else 0
            if src is None:
                dst.write(dst_off, data_in[src_off:src_off + written])
            else:
                copy_range(src, src_off, dst, dst_off, written)
            raise FsError(28)
        if src is None:
            dst.write(dst_off, data_in[src_off:src_off + want])
        else:
            copy_range(src, src_off, dst, dst_off, want)
    except FsError as exc:
        err = f"dd: error writing '{out_path}': {exc.strerror}\n"
    in_full, in_part = divmod(written if err else want, ibs)
    out_full, out_part = divmod(written, obs)
    seconds = (in_full + in_part) * RECORD_COST + written / BYTE_RATE
    node.clock.advance(seconds)
    text = "" if ops.get("status") in ("none", "noxfer") else summary(
        node, in_full, 1 if in_part else 0, out_full, 1 if out_part else 0, written, seconds)
    return Result(1 if err else 0, "", err + text)
