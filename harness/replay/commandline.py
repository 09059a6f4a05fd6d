"""What a logged command line does, as far as the replay tools need to know: its pipelines' argv lists, dd's
operands, a losetup attach, the table an `echo ... | dmsetup create` feeds and that table's targets."""
from __future__ import annotations

import posixpath
import re
import shlex

from harness.replay.trace import TraceCommand
from simulator.shell import ShellSyntaxError, parse

_TARGET = re.compile(r"(?:^|\\n|\n)\s*(\d+)\s+(\d+)\s+(linear|snapshot|snapshot-origin|zero|error)((?:\s+[^\s\\]+)*)")


def pipelines(cmd: TraceCommand) -> list[list[list[str]]]:
    try:
        return [[c.argv for c in pipeline] for _, pipeline in parse(cmd.text)]
    except ShellSyntaxError:
        return [[shlex.split(cmd.text, posix=True)]] if cmd.text else []


def dd_operands(argv: list[str]) -> dict[str, str]:
    """dd's key=value operands."""
    return dict(a.split("=", 1) for a in argv[1:] if "=" in a)


def size_bytes(text: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgGcwb]?)", text.strip())
    if not m:
        return 0
    mult = {"": 1, "c": 1, "w": 2, "b": 512, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30,
            "G": 1 << 30}[m.group(2)]
    return int(m.group(1)) * mult


def losetup_attach(argv: list[str]) -> tuple[str, str, int]:
    """(device, file, offset) of `losetup [-o N] DEV FILE`, `losetup -f [--show] FILE`; else ('', '', 0)."""
    args = argv[1:]
    if "-d" in args or "-a" in args or "-D" in args:
        return "", "", 0
    offset = int(args[args.index("-o") + 1]) if "-o" in args and args.index("-o") + 1 < len(args) else 0
    words = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "-o")]
    if len(words) == 2 and words[0].startswith("/dev/loop"):
        return words[0], words[1], offset
    if len(words) == 1 and "-f" in args:
        return "", words[0], offset
    return "", "", 0


def echoed_table(pipeline: list[list[str]]) -> str:
    """The table text an `echo ... | dmsetup create NAME` pipeline feeds (NC's own way of calling dmsetup)."""
    if len(pipeline) >= 2 and pipeline[0] and posixpath.basename(pipeline[0][0]) in ("echo", "printf"):
        return " ".join(a for a in pipeline[0][1:] if not a.startswith("-"))
    return ""


def targets(table: str):
    for m in _TARGET.finditer(table):
        yield int(m.group(1)), int(m.group(2)), m.group(3), [a for a in m.group(4).split() if a]
