"""`nc-harness run PATH...`: run YAML scenarios (files or directories) and print one line per scenario."""
from __future__ import annotations

import os
import sys

from ..runner import run_scenario
from ..scenario import ScenarioError, load


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run YAML scenarios on the simulator (or a node)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or directories (searched recursively)")
    p.add_argument("--record", metavar="TRACE", help="write every command the engine issued, in the NC log format")
    p.add_argument("--then", action="append", default=[], metavar="CMD",
                   help="run on the node after each scenario; its output is printed (repeatable)")
    p.add_argument("--backend", default="sim", help="sim (default) or local")
    p.add_argument("--determinism-check", action="store_true",
                   help="run every scenario twice with its seed; the digests of the full command/event logs must match")
    p.set_defaults(run=run)


def collect(paths: list[str]) -> list[str]:
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files += [os.path.join(root, n) for n in sorted(names)
                          if n.endswith((".yaml", ".yml")) and not n.endswith((".expect.yaml", ".expect.yml"))]
        elif os.path.exists(path):
            files.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or directory")
    return files


def run(args) -> int:
    try:
        scenarios = [load(f) for f in collect(args.paths)]
    except ScenarioError as exc:
        print(f"nc-harness run: {exc}", file=sys.stderr)
        return 2
    if not scenarios:
        print(f"nc-harness run: no scenarios under {' '.join(args.paths)}", file=sys.stderr)
        return 2
    failed, records = 0, []
    for sc in scenarios:
        result = run_scenario(sc, backend=args.backend, then=args.then)
        line = result.line()
        if args.determinism_check:
            again = run_scenario(load(sc.path) if sc.path else sc, backend=args.backend, then=args.then)
            mismatch = first_divergence(result.events(), again.events())
            if mismatch:
                result.ok = False
                line = f"FAIL {sc.name}: not deterministic: {mismatch}"
            else:
                line += f" digest {result.digest()[:16]} twice"
        print(line, flush=True)
        for out in result.then_outputs:
            sys.stdout.write(out)
        failed += not result.ok
        records.append((sc.name, result.recorder.render()))
    if args.record:
        text = records[0][1] if len(records) == 1 else "".join(f"# scenario {n}\n{r}" for n, r in records)
        try:
            with open(args.record, "w") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"nc-harness run: {args.record}: cannot write: {exc.strerror}", file=sys.stderr)
            return 2
    return 1 if failed else 0


def first_divergence(a: list[str], b: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"event {i + 1} differs: {x!r} then {y!r}"
    if len(a) != len(b):
        return f"{len(a)} events, then {len(b)}"
    return ""
