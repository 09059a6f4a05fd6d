"""A node's device stack with its numbers taken out: what two builds must share when only the order in which
they made devices differs (artifacts built at once take loop numbers and dm minors in a different order).

Each loop is named by its backing file, each dm device by its name; a table's `7:N`, `/dev/loopN` and
`253:M` become those names, and every listing is sorted."""
from __future__ import annotations

import re

_LOOP_LINE = re.compile(r"^(/dev/loop(\d+)): \[[^\]]*\]:\S+ \((.*)\)$")
_DM_LS = re.compile(r"^(\S+)\s+\((\d+)[:,] ?(\d+)\)$")
_REF = re.compile(r"(?<![\w/:])(/dev/loop(\d+)|(\d+):(\d+))\b")
LOOP_MAJOR = "7"


def device_shape(state: dict[str, str]) -> str:
    """`state`: outputs of `losetup -a`, `dmsetup ls`, `dmsetup table` and `dmsetup info -c` (harness.runner.
    snapshot). The result names every device by what it is, not by the number it got."""
    loops: dict[str, str] = {}
    for line in state.get("losetup -a", "").splitlines():
        m = _LOOP_LINE.match(line)
        if m:
            loops[m.group(2)] = m.group(3)
    minors: dict[tuple[str, str], str] = {}
    for line in state.get("dmsetup ls", "").splitlines():
        m = _DM_LS.match(line)
        if m:
            minors[(m.group(2), m.group(3))] = m.group(1)

    def name(m: re.Match) -> str:
        if m.group(2) is not None:
            return f"loop({loops.get(m.group(2), '?')})"
        if m.group(3) == LOOP_MAJOR:
            return f"loop({loops.get(m.group(4), '?')})"
        return f"dm({minors.get((m.group(3), m.group(4)), m.group(0))})"

    out = ["losetup -a:"] + sorted(f"  loop({path})" for path in loops.values())
    out += ["dmsetup table:"] + sorted("  " + _REF.sub(name, line) for line in
                                       state.get("dmsetup table", "").splitlines())
    info = state.get("dmsetup info -c", "").splitlines()
    if info and info[0].split()[:3] == ["Name", "Maj", "Min"]:
        # name, state, open count, targets: the rest is numbering (minor) or history (event counter)
        out += ["dmsetup info -c:"] + sorted("  " + " ".join(f[:1] + f[3:6]) for f in (l.split() for l in info[1:])
                                             if len(f) >= 6)
    return "\n".join(out) + "\n"
