"""`nc-harness sweep SCENARIO --faults`: fail every engine command in turn and check rollback (harness.sweep)."""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="fail each engine command of a scenario in turn; check rollback and leaks")
    p.add_argument("path", metavar="SCENARIO")
    p.add_argument("--faults", action="store_true", required=True,
                   help="command k fails as the real tool fails (k = 1..N)")
    p.add_argument("--times", type=int, default=1, help="consecutive failures per point (default 1)")
    p.add_argument("--points", help="only these k, comma-separated (e.g. 3,17)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per fault point")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..scenario import ScenarioError
    from ..sweep import sweep_faults
    try:
        only = [int(k) for k in args.points.split(",")] if args.points else None
        report = sweep_faults(args.path, args.times, only)
    except (ScenarioError, ValueError) as exc:
        print(f"nc-harness sweep: {exc}", file=sys.stderr)
        return 2
    for point in report.points:
        if args.verbose or point.outcome != "clean":
            print(f"  k={point.k} {point.outcome}: {point.command[:100]}" + (f" ({point.detail})" if point.detail
                                                                            else ""))
    print(f"{report.scenario}: {report.line()}")
    return 0 if report.count("leak") == report.count("wrong state") == 0 else 1
