"""`nc-harness diff-run SCENARIO... --backends sim,uml`: the same scenario on two backends, compared step by step:
`losetup -a`, `dmsetup table`, `dmsetup ls`, `dmsetup info -c` before every step and at the end, and every engine
command's text, exit status and stderr."""
from __future__ import annotations

import re
import sys

from .. import state as node_state
from ..backends import make_host
from ..runner import run_scenario
from ..scenario import ScenarioError, load
from .run import collect


def add_parser(sub) -> None:
    p = sub.add_parser("diff-run", help="run scenarios on two backends and compare them after every step")
    p.add_argument("paths", nargs="+", metavar="SCENARIO")
    p.add_argument("--backends", default="sim,uml", help="two backends, comma-separated (default sim,uml)")
    p.set_defaults(run=run)


def compare_runs(a, b) -> list[str]:
    """Differences between two results of one scenario; empty when the backends agree."""
    out = []
    labels = {s.index: s.label for s in a.steps}
    for key in sorted(set(a.snapshots) | set(b.snapshots)):
        where = f"before step {key} ({labels[key]})" if key in labels else "at the end"
        sa, sb = a.snapshots.get(key), b.snapshots.get(key)
        if sa is None or sb is None:
            out.append(f"{where}: only one backend got here")
            continue
        diffs = node_state.diff(node_state.from_outputs(sa), node_state.from_outputs(sb), ("inodes",))
        for cmd in ("dmsetup ls", "dmsetup info -c"):
            if sa.get(cmd) != sb.get(cmd):
                diffs.append(f"{cmd} differs: {_first_line_diff(sa.get(cmd, ''), sb.get(cmd, ''))}")
        out += [f"{where}: {d}" for d in diffs]
    ca, cb = a.recorder.commands, b.recorder.commands
    for i, (x, y) in enumerate(zip(ca, cb)):
        if x.text != y.text:
            out.append(f"command {i + 1}: {x.text!r} vs {y.text!r}")
            break
        if x.rc != y.rc or _timeless(x.stderr) != _timeless(y.stderr):
            out.append(f"command {i + 1} ({x.text[:80]}): rc {x.rc} vs {y.rc}, stderr {x.stderr.strip()[:80]!r} "
                       f"vs {y.stderr.strip()[:80]!r}")
    if len(ca) != len(cb):
        out.append(f"{len(ca)} commands vs {len(cb)}")
    if a.ok != b.ok:
        out.append(f"outcome: {a.line()} vs {b.line()}")
    return out


def _timeless(stderr: str) -> str:
    """dd's summary ends in the elapsed time and rate, which no two runs share."""
    return re.sub(r"copied, [0-9.e-]+ s, [0-9.,]+ [kMGT]?B/s", "copied, <time>", stderr)


def _first_line_diff(x: str, y: str) -> str:
    for i, (p, q) in enumerate(zip(x.splitlines(), y.splitlines())):
        if p != q:
            return f"line {i + 1}: {p!r} vs {q!r}"
    return f"{len(x.splitlines())} lines vs {len(y.splitlines())}"


def run(args) -> int:
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if len(backends) != 2:
        print("nc-harness diff-run: --backends takes exactly two backends, e.g. sim,uml", file=sys.stderr)
        return 2
    try:
        scenarios = [load(f) for f in collect(args.paths)]
    except ScenarioError as exc:
        print(f"nc-harness diff-run: {exc}", file=sys.stderr)
        return 2
    differing = 0
    for sc in scenarios:
        reason = next(filter(None, (sc.unmet(b) for b in backends)), "")
        if reason:
            print(f"SKIP {sc.name}: {reason}")
            continue
        results = []
        try:
            for backend in backends:
                host = make_host(backend, dialect=sc.dialect, seed=sc.seed)
                results.append(run_scenario(load(sc.path), host=host))
        except ValueError as exc:
            print(f"nc-harness diff-run: {exc}", file=sys.stderr)
            return 2
        diffs = compare_runs(*results)
        if diffs:
            differing += 1
            print(f"DIFF {sc.name} ({backends[0]} vs {backends[1]}): {diffs[0]}")
            for d in diffs[1:20]:
                print(f"  {d}")
        else:
            print(f"SAME {sc.name} ({backends[0]} vs {backends[1]}, {len(sc.steps)} steps, "
                  f"{len(results[0].recorder.commands)} commands; {results[0].line()[:4]})")
    return 1 if differing else 0
