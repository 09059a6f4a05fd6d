"""The field's operations beside the engine's: both sides reduced to the same operation keys (what was attached,
copied with which block size and count, detached, made, removed), paths taken relative to the instances
directory and blob-id hashes and loop numbers left out, then aligned; the first divergence is named with both
sides' lines."""
from __future__ import annotations

import difflib
import posixpath
import re
from dataclasses import dataclass

from harness.replay.commandline import dd_operands, losetup_attach, pipelines
from harness.replay.trace import TraceCommand

_HASH = re.compile(r"(?<=[A-Za-z0-9])-[0-9a-f]{8}(?=$|[/.p-])")
_TEMP = re.compile(r"(/tmp/euca-(?:mount|temp)-)\w+")


@dataclass
class Op:
    key: str            # what is compared
    text: str           # the command as it stands
    origin: str         # where it comes from (`nc.log:77`, `trace:12`)


def relative(path: str) -> str:
    """A path as both sides can agree on it: below the instances directory, blob hashes and temp names out."""
    if "/instances/" in path:
        path = path.split("/instances/", 1)[1]
    path = re.sub(r"//+", "/", path)
    return _TEMP.sub(r"\1*", _HASH.sub("-*", path))


def operations(commands: list[TraceCommand], name: str, own_lines: bool = False) -> list[Op]:
    """`own_lines`: name each operation by its line in `name` (a trace), not by the log line it came from."""
    loops: dict[str, str] = {}
    out: list[Op] = []
    for cmd in commands:
        origin = f"{name}:{cmd.lineno}" if own_lines or not cmd.origin else cmd.origin
        for pipeline in pipelines(cmd):
            for argv in pipeline:
                key = _key(argv, loops)
                if key:
                    out.append(Op(key, cmd.text.splitlines()[0][:160], origin))
    return out


def _key(argv: list[str], loops: dict[str, str]) -> str:
    if not argv:
        return ""
    tool = posixpath.basename(argv[0])
    args = argv[1:]
    if tool == "losetup":
        dev, path, offset = losetup_attach(argv)
        if path:
            loops[dev] = path
            return f"attach {relative(path)} at offset {offset}"
        if "-d" in args:
            return f"detach {relative(loops.pop(args[-1], args[-1]))}"
        return ""
    if tool == "dd":
        o = dd_operands(argv)
        return (f"copy {relative(o.get('if', '?'))} to {relative(o.get('of', '?'))} bs={o.get('bs', '512')} "
                f"count={o.get('count', '?')} seek={o.get('seek', '0')} skip={o.get('skip', '0')}")
    if tool == "mkdir":
        return "mkdir " + " ".join(relative(a) for a in args if not a.startswith("-"))
    if tool in ("chmod", "chown"):
        who = args[0].lstrip("0") if tool == "chmod" and args else (args[0] if args else "")
        return f"{tool} {who} {relative(args[-1]) if args else ''}"
    if tool == "dmsetup" and args[:1] in (["create"], ["remove"]) and len(args) > 1:
        return f"dm {args[0]} {relative(args[1])}"
    if tool.startswith(("mkfs", "mkswap", "tune2fs", "parted", "kpartx", "mount", "umount", "cp")):
        return f"{tool} " + " ".join(relative(a) for a in args if a.startswith("/"))
    return ""


def first_divergence(field: list[Op], engine: list[Op]) -> str:
    """'' when the engine does what the field did, in the same order (for the kinds of operation the field's
    log shows); else one line naming both sides."""
    kinds = {op.key.split()[0] for op in field}
    engine = [op for op in engine if op.key.split()[0] in kinds]
    matcher = difflib.SequenceMatcher(a=[op.key for op in field], b=[op.key for op in engine], autojunk=False)
    for tag, i1, _i2, j1, _j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace":
            f, e = field[i1], engine[j1]
            elsewhere = any(op.key == f.key for op in engine[j1 + 1:])
            what = "another order" if elsewhere else "different operation"
            return f"{what}: field {f.origin}: {f.key} | engine {e.origin}: {e.key}"
        if tag == "delete":
            f = field[i1]
            after = f" (after engine {engine[j1 - 1].origin})" if j1 else ""
            return f"missing in the engine: field {f.origin}: {f.key}{after}"
        e = engine[j1]
        return f"extra in the engine: engine {e.origin}: {e.key} (field has nothing there)"
    return ""
