"""Comparing tool output: masks for what legitimately differs between runs, and the first differing line."""
from __future__ import annotations

import re

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LOSETUP_INODE = re.compile(r"^(/dev/loop\d+: \[[0-9a-f]+\]:)\d+", re.M)


def mask(text: str, ignore: tuple[str, ...] = ("inodes", "uuids")) -> str:
    """Hide backing-file inode numbers in `losetup -a` lines and/or UUIDs."""
    if "uuids" in ignore:
        text = _UUID.sub("<uuid>", text)
    if "inodes" in ignore:
        text = _LOSETUP_INODE.sub(r"\1<ino>", text)
    return text


def first_difference(expected: str, actual: str, end: str = "<end>") -> str:
    exp_lines, act_lines = expected.splitlines(), actual.splitlines()
    for i in range(max(len(exp_lines), len(act_lines))):
        e = exp_lines[i] if i < len(exp_lines) else end
        a = act_lines[i] if i < len(act_lines) else end
        if e != a:
            return f"line {i + 1}: expected {e!r}, got {a!r}"
    return "output differs in trailing newline"
