"""`nc-harness sweep SCENARIO --faults | --crashes`: fail (or kill the engine at) every engine command in turn
and check rollback and recovery (harness.sweeps.faults, harness.sweeps.crashes)."""
from __future__ import annotations

import os
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="fail each engine command of a scenario in turn, or kill the engine there; "
                                     "check rollback, recovery and leaks")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--faults", action="store_true", help="command k fails as the real tool fails (k = 1..N)")
    mode.add_argument("--crashes", action="store_true",
                      help="the engine is killed after command k, then restarted; each k again with a host "
                           "reboot there (kernel state lost, files kept)")
    p.add_argument("path", metavar="SCENARIO", help="the scenario file to sweep")
    p.add_argument("--times", type=int, default=1, help="--faults: consecutive failures per point (default 1)")
    p.add_argument("--no-reboots", action="store_true", help="--crashes: leave out the host-reboot variants")
    p.add_argument("--points", help="only these k, comma-separated (e.g. 3,17)")
    p.add_argument("--save", metavar="DIR", help="--crashes: write each failing point's scenario to DIR")
    p.add_argument("-j", "--jobs", type=int, default=1,
                   help="run the points over this many processes (each on its own simulated node)")
    p.add_argument("--fast-path", action="store_true",
                   help="sweep the engine's fast path (expect_commands steps dropped; refused for scenarios "
                        "with engine_path: compatible)")
    p.add_argument("--all-commands", action="store_true",
                   help="every command the engine runs that changes something in launch, terminate and bundle "
                        "steps, its own metadata writes included, not only the commands NC logs: --faults fails "
                        "each one, --crashes kills the engine after each one")
    p.add_argument("--build-workers", type=int, default=1, metavar="N",
                   help="sweep with N artifacts built at once (node option build_workers; expect steps, which pin "
                        "device numbers, dropped; refused for scenarios with build_order: sequential)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per fault point")
    p.set_defaults(run=run)


def _points(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        points = [int(k) for k in text.split(",")]
    except ValueError:
        raise ValueError(f"--points: '{text}' is not a comma-separated list of numbers") from None
    if any(k < 1 for k in points):
        raise ValueError(f"--points: '{text}': points count from 1")
    return points


def run(args) -> int:
    from harness.scenario import ScenarioError
    from harness.sweeps.crashes import sweep_crashes
    from harness.sweeps.faults import sweep_faults
    try:
        only = _points(args.points)
        if args.times < 1:
            raise ValueError(f"--times: {args.times}: must be 1 or more")
        if not 1 <= args.jobs <= 64:
            raise ValueError(f"--jobs: {args.jobs}: must be 1 to 64")
        if not 1 <= args.build_workers <= 16:
            raise ValueError(f"--build-workers: {args.build_workers}: must be 1 to 16")
        if args.crashes:
            report = sweep_crashes(args.path, only, reboots=not args.no_reboots, jobs=args.jobs,
                                   fast_path=args.fast_path, all_commands=args.all_commands,
                                   build_workers=args.build_workers)
        else:
            report = sweep_faults(args.path, args.times, only, jobs=args.jobs, fast_path=args.fast_path,
                                  all_commands=args.all_commands, build_workers=args.build_workers)
    except (ScenarioError, ValueError) as exc:
        print(f"nc-harness sweep: {exc}", file=sys.stderr)
        return 2
    for point in report.points:
        if args.verbose or point.outcome != "clean":
            print(f"  k={point.k} {point.outcome}: {point.command[:100]}" + (f" ({point.detail})" if point.detail
                                                                            else ""))
        if point.outcome != "clean" and point.program and args.save:
            os.makedirs(args.save, exist_ok=True)
            name = f"{report.scenario}-k{point.k}{'-reboot' if point.command.endswith('[reboot]') else ''}.yaml"
            with open(os.path.join(args.save, name), "w", encoding="utf-8") as fh:
                fh.write(point.program)
            print(f"    reproduce: nc-harness run {os.path.join(args.save, name)}")
    print(f"{report.scenario}: {report.line()}")
    return 0 if report.count("leak") == report.count("wrong state") == 0 else 1
