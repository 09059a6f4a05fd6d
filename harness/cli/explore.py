"""`nc-harness explore`: the hypothesis state machine over the engine on the simulator."""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("explore", help="stateful property testing of the engine; failures become YAML scenarios")
    p.add_argument("--examples", type=int, default=200,
                   help="examples (runs of the state machine) to draw (default 200)")
    p.add_argument("--steps", type=int, default=30, help="steps per example")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds hypothesis: the same seed draws the same examples (default 0)")
    p.add_argument("--save-dir", default="scenarios/regressions", help="where a failing run is saved")
    p.set_defaults(run=run)


def run(args) -> int:
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
