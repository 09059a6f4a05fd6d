"""Comparing tool output: masks for what legitimately differs between runs, and the first differing line."""
from __future__ import annotations

import re

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LOSETUP_INODE = re.compile(r"^(/dev/loop\d+: \[[0-9a-f]+\]:)\d+", re.M)


# the 8 hex digits that end a blob id (`emi-4AB0A440-1d0c9fb4`): an image digest's hash or an rng token, so a
# run whose clock or rng moved on (a retried command) names the same blobs differently
# NAME1 or NAMEp1: a partition (libparted adds the `p` when the name ends in a digit, so it goes with the id)
_BLOB_ID = r"-[0-9a-f]{8}(?:p(?=[1-9]))?"
_BLOB_SUFFIX = re.compile(r"(?<=[A-Za-z0-9])" + _BLOB_ID + r"(?=[1-9]?(?:[^0-9a-f]|$))", re.M)


def mask(text: str, ignore: tuple[str, ...] = ("inodes", "uuids")) -> str:
    """Hide backing-file inode numbers in `losetup -a` lines, UUIDs and/or blob-id suffixes."""
    if "uuids" in ignore:
        text = _UUID.sub("<uuid>", text)
    if "inodes" in ignore:
        text = _LOSETUP_INODE.sub(r"\1<ino>", text)
    if "ids" in ignore:
        text = _BLOB_SUFFIX.sub("-<id>", text)
    return text


def ids_as_wildcards(line: str) -> str:
    """`line` as a regular expression in which each blob id (what the `ids` mask hides) matches any id."""
    out, pos = [], 0
    for m in _BLOB_SUFFIX.finditer(line):
        out.append(re.escape(line[pos:m.start()]) + _BLOB_ID)
        pos = m.end()
    return "".join(out) + re.escape(line[pos:])


def first_difference(expected: str, actual: str, end: str = "<end>") -> str:
    exp_lines, act_lines = expected.splitlines(), actual.splitlines()
    for i in range(max(len(exp_lines), len(act_lines))):
        e = exp_lines[i] if i < len(exp_lines) else end
        a = act_lines[i] if i < len(act_lines) else end
        if e != a:
            return f"line {i + 1}: expected {e!r}, got {a!r}"
    return "output differs in trailing newline"


def compare(expected: str, actual: str, match: str = "exact", ignore: list[str] | None = None) -> str:
    """'' when equal; else the first difference in words."""
    ignore = ignore or []
    exp, act = mask(expected, tuple(ignore)), mask(actual, tuple(ignore))
    if match == "contains":
        act_lines = {line.rstrip() for line in act.splitlines()}
        missing = [line.rstrip() for line in exp.splitlines() if line.strip() and line.rstrip() not in act_lines]
        return f"missing line '{missing[0]}' ({len(missing)} missing)" if missing else ""
    if match == "lines":
        exp_lines = [line.rstrip() for line in exp.splitlines() if line.strip()]
        act_lines = [line.rstrip() for line in act.splitlines() if line.strip()]
        missing = sorted(set(exp_lines) - set(act_lines))
        extra = sorted(set(act_lines) - set(exp_lines))
        if missing:
            return f"missing line '{missing[0]}' ({len(missing)} missing, {len(extra)} extra)"
        if extra:
            return f"unexpected line '{extra[0]}' ({len(extra)} extra)"
        if len(exp_lines) != len(act_lines):
            return f"{len(act_lines)} lines, expected {len(exp_lines)}"
        return ""
    return "" if exp == act else first_difference(exp, act)
