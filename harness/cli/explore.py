"""`nc-harness explore`: the hypothesis state machine over the engine on the simulator, or (`--interleavings`)
one scenario's concurrent steps under many schedules."""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("explore", help="stateful property testing of the engine; failures become YAML scenarios")
    p.add_argument("--examples", type=int, default=200,
                   help="examples (runs of the state machine) to draw (default 200)")
    p.add_argument("--steps", type=int, default=30, help="steps per example")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds hypothesis, or the interleavings' random schedules: the same seed, the same runs "
                        "(default 0)")
    p.add_argument("--save-dir", default="scenarios/regressions", help="where a failing run is saved")
    p.add_argument("--interleavings", metavar="SCENARIO",
                   help="run this scenario's concurrently steps under many schedules instead (simulator)")
    p.add_argument("--schedules", type=int, default=1000,
                   help="with --interleavings: schedules to run (default 1000); all of them when fewer exist")
    p.add_argument("--preemptions", type=int, default=2,
                   help="with --interleavings: preemptions per schedule at most (default 2)")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.interleavings:
        return _interleavings(args)
    from harness.explore.state_machine import ExplorationFailed, explore
    if args.examples < 1 or args.steps < 1:
        print("nc-harness explore: --examples and --steps must be positive", file=sys.stderr)
        return 2
    try:
        explore(args.examples, args.steps, args.seed, args.save_dir, out=sys.stdout)
    except ExplorationFailed as exc:
        print(f"FAIL explore: {exc} (saved as {exc.path})")
        return 1
    print(f"PASS explore: {args.examples} examples of up to {args.steps} steps, every invariant held")
    return 0


def _interleavings(args) -> int:
    from harness.explore.interleavings import InterleavingError, explore_interleavings
    from harness.scenario.registry import ScenarioError
    if args.schedules < 1 or args.preemptions < 0:
        print("nc-harness explore: --schedules must be positive and --preemptions not negative", file=sys.stderr)
        return 2
    try:
        report = explore_interleavings(args.interleavings, args.schedules, args.preemptions, args.seed,
                                       save_dir=args.save_dir)
    except OSError as exc:
        print(f"nc-harness explore: {args.interleavings}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except (ScenarioError, InterleavingError) as exc:
        print(f"nc-harness explore: {exc}", file=sys.stderr)
        return 2
    print(report.line())
    for path in report.saved:
        print(f"  saved {path}")
    return 1 if report.failures else 0
