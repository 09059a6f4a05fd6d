"""`nc-harness list [PATH...]`: the scenarios and traces a run or pytest would pick up, with their steps."""
from __future__ import annotations

import os
import sys

from harness.cli.run import collect
from harness.scenario import ScenarioError, load


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list scenarios (with their steps) and replayable traces")
    p.add_argument("paths", nargs="*", default=["scenarios"], metavar="PATH",
                   help="scenario files or directories (default scenarios)")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        files = collect(args.paths)
        scenarios = [load(f) for f in files]
    except ScenarioError as exc:
        print(f"nc-harness list: {exc}", file=sys.stderr)
        return 2
    for sc in scenarios:
        steps = ", ".join(s.label for s in sc.steps)
        print(f"{sc.name}  ({sc.path}, {sc.dialect}, seed {sc.seed}): {steps}")
    for path in args.paths:
        for root, dirs, names in os.walk(path) if os.path.isdir(path) else []:
            dirs.sort()
            for name in sorted(names):
                if name.endswith(".log"):
                    full = os.path.join(root, name)
                    expect = full[:-4] + ".expect.yaml"
                    print(f"{name}  (trace {full}" + (f", expectation {expect})" if os.path.exists(expect) else ")"))
    return 0
