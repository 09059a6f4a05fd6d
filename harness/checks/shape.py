"""A node's device stack with its numbers taken out: what two builds must share when only the order in which
they made devices differs (artifacts built at once take loop numbers and dm minors in a different order).

Read through harness.checks.state's records: each loop is named by its backing file, each dm device by its name; a
table's `7:N`, `/dev/loopN` and `253:M` become those names, and every listing is sorted."""
from __future__ import annotations

from harness.checks.state import from_outputs


def device_shape(state: dict[str, str]) -> str:
    """`state`: outputs of `losetup -a`, `dmsetup ls`, `dmsetup table` and `dmsetup info -c` (harness.scenario.runner.
    snapshot). The result names every device by what it is, not by the number it got."""
    node = from_outputs({k: v for k, v in state.items() if k in ("losetup -a", "dmsetup table", "dmsetup ls")})
    backing = {dev: loop.backing for dev, loop in node.loops.items()}

    def named(arg: str) -> str:
        dev = node.numbers.get(arg, arg)          # 7:N -> /dev/loopN, 253:M -> its name
        if dev in backing:
            return f"loop({backing[dev]})"
        return f"dm({dev})" if arg in node.numbers else arg

    out = ["losetup -a:"] + sorted(f"  loop({path})" for path in backing.values())
    out += ["dmsetup table:"] + sorted(f"  {name}: {t.start} {t.length} {' '.join([t.type, *map(named, t.args)])}"
                                       for name, targets in node.dm.items() for t in targets)
    info = state.get("dmsetup info -c", "").splitlines()
    if info and info[0].split()[:3] == ["Name", "Maj", "Min"]:
        # name, state, open count, targets: the rest is numbering (minor) or history (event counter)
        rows = (line.split() for line in info[1:])
        out += ["dmsetup info -c:"] + sorted("  " + " ".join(f[:1] + f[3:6]) for f in rows
                                             if len(f) >= 6)
    return "\n".join(out) + "\n"
