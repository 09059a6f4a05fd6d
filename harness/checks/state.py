"""Node state as typed records, parsed from the tools' own output, and a diff people can read.

`losetup -a` (both util-linux formats), `dmsetup table`, `dmsetup ls` (names for major:minor) and
`dmsetup ls --tree` become records; a diff names the device and the field, and shows `major:minor`
and loop numbers with the name of the device behind them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from harness.errors import HarnessError

_LOSETUP = re.compile(r"^(?P<dev>/dev/loop\d+): \[(?P<st_dev>[0-9a-f]+)\]:(?P<ino>\d+|<ino>) \((?P<path>.*?)\)"
                      r"(?:, offset (?P<offset>\d+))?\s*$")
_DMLS = re.compile(r"^(?P<name>\S+)\s+\((?P<major>\d+)(?::|, )(?P<minor>\d+)\)\s*$")
STATE_FILES = {"losetup -a": "losetup-a.txt", "dmsetup table": "dmsetup-table.txt", "dmsetup ls": "dmsetup-ls.txt"}
BLOBS_FILE = "blobstore.yaml"


class StateError(HarnessError, ValueError):
    pass


@dataclass(frozen=True)
class LoopRecord:
    device: str
    st_dev: str
    inode: int
    backing: str
    offset: int = 0


@dataclass(frozen=True)
class DmTarget:
    start: int
    length: int
    type: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class BlobRecord:
    store: str                 # "cache" or "work"
    id: str
    size: int
    loopback: str
    dm: tuple[str, ...]
    deps: tuple[str, ...]
    refs: tuple[str, ...]
    hollow: bool


@dataclass
class NodeState:
    loops: dict[str, LoopRecord] = field(default_factory=dict)
    dm: dict[str, list[DmTarget]] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)     # "253:3" / "7:1" -> device name
    raw: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, BlobRecord] | None = None                 # "work:u/i-1/emi-..." -> record

    def name_of(self, number: str) -> str:
        return self.numbers.get(number, "")


def parse_losetup(text: str, where: str = "losetup -a") -> dict[str, LoopRecord]:
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LOSETUP.match(line)
        if not m:
            raise StateError(f"{where}:{n}: not a losetup -a line: {line[:80]}")
        inode = -1 if m["ino"] == "<ino>" else int(m["ino"])   # masked by harness.checks.compare.mask
        out[m["dev"]] = LoopRecord(m["dev"], m["st_dev"], inode, m["path"], int(m["offset"] or 0))
    return out


def parse_dmsetup_table(text: str, where: str = "dmsetup table") -> dict[str, list[DmTarget]]:
    out: dict[str, list[DmTarget]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.strip() == "No devices found":
            continue
        name, sep, rest = line.partition(": ")
        fields = rest.split()
        if not sep or len(fields) < 3 or not fields[0].isdigit() or not fields[1].isdigit():
            raise StateError(f"{where}:{n}: not a dmsetup table line: {line[:80]}")
        out.setdefault(name, []).append(DmTarget(int(fields[0]), int(fields[1]), fields[2], tuple(fields[3:])))
    for targets in out.values():
        targets.sort(key=lambda t: t.start)
    return out


def parse_dmsetup_ls(text: str) -> dict[str, str]:
    """number -> name, from `dmsetup ls` (`name\t(253:3)`, or el6's `name\t(253, 3)`)."""
    out = {}
    for line in text.splitlines():
        m = _DMLS.match(line)
        if m:
            out[f"{m['major']}:{m['minor']}"] = m["name"]
    return out


def parse_dmsetup_tree(text: str) -> dict[str, list[str]]:
    """device -> the devices it sits on, from `dmsetup ls --tree` (indentation gives the nesting)."""
    tree: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.strip() == "No devices found":
            continue
        body = line.lstrip(" │├└─`-|")
        depth = len(line) - len(body)
        name = body.split(" (")[0].strip()
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            tree.setdefault(stack[-1][1], []).append(name)
        else:
            tree.setdefault(name, [])
        stack.append((depth, name))
    return tree


def from_outputs(outputs: dict[str, str]) -> NodeState:
    state = NodeState(raw=dict(outputs))
    if "losetup -a" in outputs:
        state.loops = parse_losetup(outputs["losetup -a"])
    if "dmsetup table" in outputs:
        state.dm = parse_dmsetup_table(outputs["dmsetup table"])
    state.numbers = parse_dmsetup_ls(outputs.get("dmsetup ls", ""))
    for dev in state.loops:
        state.numbers.setdefault(f"7:{dev[len('/dev/loop'):]}", dev)
    return state


def capture(host, nc=None) -> NodeState:
    """The kernel's listings, and with a node controller also its blobstores' metadata."""
    state = from_outputs({cmd: host.run(cmd.split()).stdout for cmd in STATE_FILES})
    if nc is not None:
        state.blobs = capture_blobs(nc)
    return state


def capture_blobs(nc) -> dict[str, BlobRecord]:
    out = {}
    for label, store in (("work", nc.work), ("cache", nc.cache)):
        if store is None:
            continue
        stats = store.io.stat([store.path_of(i, "blocks") for i in store.ids()])
        for blob_id in store.ids():
            size = stats.get(store.path_of(blob_id, "blocks"), (0, 0.0))[0]
            out[f"{label}:{blob_id}"] = BlobRecord(
                label, blob_id, size, store.io.read(store.path_of(blob_id, "loopback")) or "",
                tuple(store.read_lines(blob_id, "dm")), tuple(sorted(store.read_lines(blob_id, "deps"))),
                tuple(sorted(store.read_lines(blob_id, "refs"))), store.io.exists(store.path_of(blob_id, "hollow")))
    return out


def save(state: NodeState, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for cmd, name in STATE_FILES.items():
        if cmd in state.raw:
            with open(os.path.join(directory, name), "w") as fh:
                fh.write(state.raw[cmd])
    if state.blobs is not None:
        import yaml
        with open(os.path.join(directory, BLOBS_FILE), "w") as fh:
            yaml.safe_dump({k: {"size": b.size, "loopback": b.loopback, "dm": list(b.dm), "deps": list(b.deps),
                                "refs": list(b.refs), "hollow": b.hollow} for k, b in sorted(state.blobs.items())},
                           fh, sort_keys=False, width=1000)


def load(directory: str) -> NodeState:
    """A saved state: a directory of `losetup-a.txt`, `dmsetup-table.txt`, `dmsetup-ls.txt` (any subset),
    as `save` writes them and as the real-kernel fixtures are laid out."""
    if not os.path.isdir(directory):
        raise StateError(f"{directory}: not a directory of saved state")
    outputs = {}
    for cmd, name in STATE_FILES.items():
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                outputs[cmd] = fh.read()
    blobs_path = os.path.join(directory, BLOBS_FILE)
    if not outputs and not os.path.exists(blobs_path):
        raise StateError(f"{directory}: none of {', '.join(STATE_FILES.values())}, {BLOBS_FILE} found")
    state = from_outputs(outputs)
    if os.path.exists(blobs_path):
        state.blobs = _load_blobs(blobs_path)
    return state


def _load_blobs(path: str) -> dict[str, BlobRecord]:
    import yaml
    try:
        with open(path) as fh:
            doc = yaml.safe_load(fh) or {}
        return {key: BlobRecord(key.split(":", 1)[0], key.split(":", 1)[1], int(v["size"]), str(v["loopback"]),
                                tuple(v["dm"]), tuple(v["deps"]), tuple(v["refs"]), bool(v["hollow"]))
                for key, v in doc.items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise StateError(f"{path}: not a saved blobstore: {exc}") from None


def _named(number: str, state: NodeState) -> str:
    name = state.name_of(number)
    return f"{number} ({name})" if name else number


def _target_text(t: DmTarget, state: NodeState) -> str:
    args = [_named(a, state) if re.fullmatch(r"\d+:\d+", a) else a for a in t.args]
    return " ".join([str(t.start), str(t.length), t.type, *args])


def diff(expected: NodeState, actual: NodeState, ignore: tuple[str, ...] = ()) -> list[str]:
    """One line per difference: `DEVICE: missing|unexpected|FIELD: expected X, got Y`."""
    lines: list[str] = []
    if "losetup -a" in expected.raw and "losetup -a" in actual.raw:
        fields = [f for f in ("backing", "offset", "st_dev", "inode") if not (f == "inode" and "inodes" in ignore)]
        loops = sorted(set(expected.loops) | set(actual.loops), key=_loop_key)
        lines += _diff_records(expected, actual, expected.loops, actual.loops, loops,
                               lambda dev, rec, _state: f"{dev}: %s (on {rec.backing})",
                               lambda dev, e, a: _field_diffs(dev, e, a, fields, str))
    if "dmsetup table" in expected.raw and "dmsetup table" in actual.raw:
        lines += _diff_records(expected, actual, expected.dm, actual.dm, sorted(set(expected.dm) | set(actual.dm)),
                               lambda name, targets, side: f"{name}: %s ({_target_text(targets[0], side)})",
                               lambda name, e, a: _diff_targets(name, e, a, expected, actual))
    if expected.blobs is not None and actual.blobs is not None:
        fields = ["size", "loopback", "dm", "deps", "refs", "hollow"]
        blobs = sorted(set(expected.blobs) | set(actual.blobs))
        lines += _diff_records(expected, actual, expected.blobs, actual.blobs, blobs,
                               lambda key, rec, _state: f"blob {key}: %s",
                               lambda key, e, a: _field_diffs(f"blob {key}", e, a, fields, _show))
    return lines


def _diff_records(exp_state, act_state, expected: dict, actual: dict, keys, describe, changed) -> list[str]:
    """`missing`/`unexpected` for keys on one side only (described from the side that has them), and the
    field differences of the rest."""
    out = []
    for key in keys:
        e, a = expected.get(key), actual.get(key)
        if a is None:
            out.append(describe(key, e, exp_state).replace("%s (", "missing (expected ", 1).replace("%s", "missing"))
        elif e is None:
            out.append(describe(key, a, act_state).replace("%s", "unexpected"))
        else:
            out += changed(key, e, a)
    return out


def _field_diffs(label: str, e, a, fields: list[str], show) -> list[str]:
    return [f"{label}: {f}: expected {show(getattr(e, f))}, got {show(getattr(a, f))}"
            for f in fields if getattr(e, f) != getattr(a, f)]


def _show(value) -> str:
    return "[" + ", ".join(value) + "]" if isinstance(value, tuple) else str(value)


def _diff_targets(name, e, a, es, as_) -> list[str]:
    out = []
    if len(e) != len(a):
        out.append(f"{name}: targets: expected {len(e)}, got {len(a)}")
    for i, (te, ta) in enumerate(zip(e, a)):
        where = f"{name}: target {i} ({te.start} {te.length} {te.type})"
        for fld in ("start", "length", "type"):
            if getattr(te, fld) != getattr(ta, fld):
                out.append(f"{where}: {fld}: expected {getattr(te, fld)}, got {getattr(ta, fld)}")
        labels = _arg_labels(te.type, len(te.args))
        for j, (xe, xa) in enumerate(zip(te.args, ta.args)):
            if xe != xa:
                def fmt(v, s):
                    return _named(v, s) if re.fullmatch(r"\d+:\d+", v) else v
                out.append(f"{where}: {labels[j] if j < len(labels) else f'arg {j}'}: "
                           f"expected {fmt(xe, es)}, got {fmt(xa, as_)}")
        if len(te.args) != len(ta.args):
            out.append(f"{where}: arguments: expected {' '.join(te.args)}, got {' '.join(ta.args)}")
    return out


def _arg_labels(target: str, n: int) -> list[str]:
    return {"linear": ["device", "offset"], "snapshot": ["origin", "cow device", "persistence", "chunk size"],
            "snapshot-origin": ["origin"]}.get(target, [f"arg {i}" for i in range(n)])


def _loop_key(dev: str) -> tuple[int, str]:
    digits = dev[len("/dev/loop"):]
    return (int(digits), dev) if digits.isdigit() else (1 << 30, dev)
