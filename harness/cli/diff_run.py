"""`nc-harness diff-run PATH... --backends sim,uml`: the same scenario on two backends, compared step by step:
`losetup -a`, `dmsetup table`, `dmsetup ls`, `dmsetup info -c` before every step and at the end, and every engine
command's text, exit status and stderr (a scenario with `concurrently` steps: device shapes only, numbers
aside, as a real node interleaves the operations its own way). A trace (`.log`, `.txt`, `.sh`) is replayed on
both (Debian 12 dialect, going on past failures) and compared command by command (exit status, stdout, stderr)
and in its final state."""
from __future__ import annotations

import os
import re
import sys

from harness.backends import make_host
from harness.checks import state as node_state
from harness.cli.run import collect
from harness.scenario import ScenarioError, load
from harness.scenario.runner import run_scenario


def add_parser(sub) -> None:
    p = sub.add_parser("diff-run", help="run scenarios or traces on two backends and compare them after every step")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files, directories, or traces (.log, .txt, .sh)")
    p.add_argument("--backends", default="sim,uml", help="two backends, comma-separated (default sim,uml)")
    p.add_argument("--fast-path", action="store_true",
                   help="run the scenarios on the engine's fast path on both backends (those whose faults name "
                        "NC's exact commands are skipped)")
    p.add_argument("--ignore", default="", metavar="ids,uuids",
                   help="ids: compare blob ids without their hash suffix; uuids: UUIDs as <uuid> (for scenarios "
                        "whose images are made on the node, so their digests and filesystem UUIDs, and the names "
                        "derived from them, are each backend's own)")
    p.set_defaults(run=run)


def compare_runs(a, b, ignore: tuple[str, ...] = (), shapes: bool = False) -> list[str]:
    """Differences between two results of one scenario; empty when the backends agree. `shapes`: the scenario
    runs operations at once (a real node interleaves them its own way), so the state before every step is
    compared by device shape (harness.checks.shape: numbers aside) and the command order not at all."""
    from harness.checks.compare import mask
    if shapes:
        return _compare_shapes(a, b, ignore)
    same = (lambda t: mask(t, ignore)) if ignore else (lambda t: t)
    out = []
    for where, sa, sb in _snapshot_pairs(a, b, out):
        sa, sb = ({k: same(v) for k, v in snap.items()} for snap in (sa, sb))
        if ignore:   # `info -c` pads its name column to the longest name, whose length the ids mask hides
            sa, sb = ({k: re.sub(r" {2,}", " ", v) if k == "dmsetup info -c" else v for k, v in snap.items()}
                      for snap in (sa, sb))
        diffs = node_state.diff(node_state.from_outputs(sa), node_state.from_outputs(sb), ("inodes",))
        for cmd in ("dmsetup ls", "dmsetup info -c"):
            if sa.get(cmd) != sb.get(cmd):
                diffs.append(f"{cmd} differs: {_first_line_diff(sa.get(cmd, ''), sb.get(cmd, ''))}")
        out += [f"{where}: {d}" for d in diffs]
    ca, cb = a.recorder.commands, b.recorder.commands
    for i, (x, y) in enumerate(zip(ca, cb)):
        if same(x.text) != same(y.text):
            out.append(f"command {i + 1}: {x.text!r} vs {y.text!r}")
            break
        if x.rc != y.rc or same(_timeless(x.stderr)) != same(_timeless(y.stderr)):
            out.append(f"command {i + 1} ({x.text[:80]}): rc {x.rc} vs {y.rc}, stderr {x.stderr.strip()[:80]!r} "
                       f"vs {y.stderr.strip()[:80]!r}")
    if len(ca) != len(cb):
        out.append(f"{len(ca)} commands vs {len(cb)}")
    if a.ok != b.ok:
        out.append(f"outcome: {a.line()} vs {b.line()}")
    return out


def _snapshot_pairs(a, b, out: list[str]):
    """(where, snapshot of a, snapshot of b) before every step and at the end; a place only one run reached is
    a difference, added to `out`."""
    labels = {s.index: s.label for s in a.steps}
    for key in sorted(set(a.snapshots) | set(b.snapshots)):
        where = f"before step {key} ({labels[key]})" if key in labels else "at the end"
        sa, sb = a.snapshots.get(key), b.snapshots.get(key)
        if sa is None or sb is None:
            out.append(f"{where}: only one backend got here")
            continue
        yield where, sa, sb


def _compare_shapes(a, b, ignore: tuple[str, ...]) -> list[str]:
    from harness.checks.compare import mask
    from harness.checks.shape import device_shape
    out = []
    for where, sa, sb in _snapshot_pairs(a, b, out):
        shape_a, shape_b = (mask(device_shape(snap), ignore) for snap in (sa, sb))
        if shape_a != shape_b:
            out.append(f"{where}: device shapes differ: {_first_line_diff(shape_a, shape_b)}")
    if a.ok != b.ok:
        out.append(f"outcome: {a.line()} vs {b.line()}")
    return out


def compare_traces(a, b) -> list[str]:
    """Differences between two replays of one trace: (transcript entries, final snapshot) each."""
    out = []
    for i, (x, y) in enumerate(zip(a[0], b[0])):
        if _timeless(x) != _timeless(y):
            out.append(f"command {i + 1}: {_first_line_diff(x, y)}")
    if len(a[0]) != len(b[0]):
        out.append(f"{len(a[0])} commands vs {len(b[0])}")
    diffs = node_state.diff(node_state.from_outputs(a[1]), node_state.from_outputs(b[1]), ("inodes",))
    for cmd in ("dmsetup ls", "dmsetup info -c"):
        if a[1].get(cmd) != b[1].get(cmd):
            diffs.append(f"{cmd} differs: {_first_line_diff(a[1].get(cmd, ''), b[1].get(cmd, ''))}")
    return out + [f"at the end: {d}" for d in diffs]


def _trace_commands(path: str):
    """A trace, an nc.log or a document, as replay reads it; completed (`replay --complete`) when the
    expectation file beside it says `complete: true`."""
    from harness.replay.complete import complete
    from harness.replay.expectations import ExpectationError
    from harness.replay.expectations import load as load_expectation
    from harness.replay.sources import load as load_trace
    from harness.replay.trace import TraceError
    loaded = load_trace([path])
    beside = re.sub(r"\.(log|txt|sh|md|gz)$", ".expect.yaml", path)
    try:
        wants = os.path.exists(beside) and load_expectation(beside).complete
    except ExpectationError as exc:
        raise TraceError(str(exc)) from None
    return complete(loaded.commands, loaded.hints).commands if wants else loaded.commands


def replay_on(backend: str, commands) -> tuple[list[str], dict]:
    from harness.checks.compare import mask
    from harness.replay.replayer import replay
    from harness.scenario.runner import snapshot
    host = make_host(backend, dialect="debian12", seed=0)
    with host:
        outcome = replay(host, commands, keep_going=True)
        return [host.canonical(mask(t)) for t in outcome.transcript], snapshot(host)


def _timeless(stderr: str) -> str:
    """dd's summary ends in the elapsed time and rate, which no two runs share; and mke2fs prints a progress
    count (`K/N` and backspaces) again only when a second has passed since the last, so a slow node shows
    counts a fast one does not (`Allocating group tables:  0/26`, then ` 1/26` on a busy QEMU node)."""
    text = re.sub(r"copied, [0-9.e-]+ s, [0-9.,]+ [kMGT]?B/s", "copied, <time>", stderr)
    return re.sub(r"( *\d+/\d+\x08+)+", " <progress>", text)


def _first_line_diff(x: str, y: str) -> str:
    for i, (p, q) in enumerate(zip(x.splitlines(), y.splitlines())):
        if p != q:
            return f"line {i + 1}: {p!r} vs {q!r}"
    return f"{len(x.splitlines())} lines vs {len(y.splitlines())}"


def report(name: str, backends: list[str], diffs: list[str], same: str) -> int:
    """One SAME line, or a DIFF line with up to 20 differences; returns 1 for a difference."""
    if not diffs:
        print(f"SAME {name} ({backends[0]} vs {backends[1]}, {same})")
        return 0
    print(f"DIFF {name} ({backends[0]} vs {backends[1]}): {diffs[0]}")
    for d in diffs[1:20]:
        print(f"  {d}")
    return 1


def run(args) -> int:
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    ignore = tuple(x for x in args.ignore.split(",") if x)
    if any(x not in ("ids", "uuids") for x in ignore):
        print(f"nc-harness diff-run: --ignore: ids and/or uuids (got '{args.ignore}')", file=sys.stderr)
        return 2
    if len(backends) != 2:
        print("nc-harness diff-run: --backends takes exactly two backends, e.g. sim,uml", file=sys.stderr)
        return 2
    from harness.replay.trace import TraceError
    trace_paths = [p for p in args.paths if p.endswith((".log", ".txt", ".sh", ".md", ".gz"))]
    try:
        traces = [(p, _trace_commands(p)) for p in trace_paths]
        scenarios = [load(f) for f in collect([p for p in args.paths if p not in trace_paths])] \
            if len(trace_paths) < len(args.paths) else []
    except (ScenarioError, TraceError) as exc:
        print(f"nc-harness diff-run: {exc}", file=sys.stderr)
        return 2
    differing = 0
    for path, commands in traces:
        try:
            results = [replay_on(b, commands) for b in backends]
        except ValueError as exc:
            print(f"nc-harness diff-run: {exc}", file=sys.stderr)
            return 2
        differing += report(os.path.basename(path), backends, compare_traces(*results),
                            f"{len(commands)} commands, replayed as debian12")
    for sc in scenarios:
        reason = next(filter(None, (sc.unmet(b) for b in backends)), "")
        if args.fast_path and sc.engine_path == "compatible":
            reason = "its faults name NC 3.3's exact commands (engine_path: compatible)"
        if reason:
            print(f"SKIP {sc.name}: {reason}")
            continue
        results = []
        try:
            for backend in backends:
                host = make_host(backend, dialect=sc.dialect, seed=sc.seed)
                run = load(sc.path).fast_path() if args.fast_path else load(sc.path)
                results.append(run_scenario(run, host=host))
        except ValueError as exc:
            print(f"nc-harness diff-run: {exc}", file=sys.stderr)
            return 2
        concurrent = any(step.kind == "concurrently" for step in sc.steps)
        differing += report(sc.name, backends, compare_runs(*results, ignore=ignore, shapes=concurrent),
                            f"{len(sc.steps)} steps, {len(results[0].recorder.commands)} commands; "
                            f"{results[0].line()[:4]}" + ("; operations at once: device shapes" if concurrent else ""))
    return 1 if differing else 0
