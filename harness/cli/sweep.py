"""`nc-harness sweep SCENARIO|DIR... --faults | --crashes | --kinds K,...`: fail (or kill the engine at) every
engine command in turn and check rollback and recovery (harness.sweeps.faults, harness.sweeps.crashes), over one
scenario or many, with every kind of point (harness.sweeps.kinds) on one engine path or both; several sweeps end
with a summary table (harness.sweeps.many)."""
from __future__ import annotations

import os
import sys

from harness.sweeps.kinds import KINDS


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="fail each engine command of a scenario in turn, or kill the engine there; "
                                     "check rollback, recovery and leaks")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--faults", action="store_true", help="command k fails as the real tool fails (k = 1..N)")
    mode.add_argument("--crashes", action="store_true",
                      help="the engine is killed after command k, then restarted; each k again with a host "
                           "reboot there (kernel state lost, files kept)")
    mode.add_argument("--kinds", metavar="K,...",
                      help="the kinds of point, comma-separated: " + ", ".join(KINDS) + " (each in its own sweep)")
    p.add_argument("paths", nargs="+", metavar="SCENARIO", help="scenario files or directories (searched recursively)")
    p.add_argument("--paths", dest="engine_paths", default=None, metavar="nc,fast",
                   help="the engine paths to sweep: nc (NC 3.3's commands, the default), fast, or both")
    p.add_argument("--pairs", type=int, default=40, metavar="N",
                   help="the pairs kind: how many pairs of commands per scenario (default 40)")
    p.add_argument("--seed", type=int, default=0, help="the pairs kind: the seed the pairs are drawn with")
    p.add_argument("--sample", type=int, default=0, metavar="N",
                   help="sweeps that cannot branch off one run (an object store, operations at once, served "
                        "images: threads) run N of their points, drawn with --seed (default: all)")
    p.add_argument("--max-points", type=int, default=0, metavar="N",
                   help="every sweep runs at most N of its points, drawn with --seed (default: all)")
    p.add_argument("--rerun", action="store_true",
                   help="run every point from the scenario's start instead of branching it off one run "
                        "(the reference the branched sweep is checked against)")
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


def _kinds(args) -> list[str]:
    from harness.sweeps.kinds import parse_kinds
    if args.kinds:
        return parse_kinds(args.kinds)
    if args.faults:
        return ["fault" if args.times == 1 else "fault-twice" if args.times == 2 else f"fault-x{args.times}"]
    return ["crash", "crash-reboot"] if not args.no_reboots else ["crash"]


def _engine_paths(args) -> list[str]:
    if args.engine_paths is None:
        return ["fast" if args.fast_path else "nc"]
    paths = [p.strip() for p in args.engine_paths.split(",") if p.strip()]
    if not paths or any(p not in ("nc", "fast") for p in paths):
        raise ValueError(f"--paths: '{args.engine_paths}': nc, fast or nc,fast")
    return list(dict.fromkeys(paths))


def run(args) -> int:
    from harness.cli.run import collect
    from harness.scenario import ScenarioError
    from harness.sweeps.kinds import SweepOptions
    from harness.sweeps.many import sweep_many, table
    try:
        only = _points(args.points)
        if args.times < 1:
            raise ValueError(f"--times: {args.times}: must be 1 or more")
        if not 1 <= args.jobs <= 64:
            raise ValueError(f"--jobs: {args.jobs}: must be 1 to 64")
        if not 1 <= args.build_workers <= 16:
            raise ValueError(f"--build-workers: {args.build_workers}: must be 1 to 16")
        if args.pairs < 1:
            raise ValueError(f"--pairs: {args.pairs}: must be 1 or more")
        if args.sample < 0 or args.max_points < 0:
            raise ValueError(f"--sample, --max-points: {min(args.sample, args.max_points)}: must be 0 (all) or more")
        kinds, engine_paths = _kinds(args), _engine_paths(args)
        files = collect(args.paths)
        if not files:
            raise ValueError(f"no scenarios under {' '.join(args.paths)}")
        if len(files) == 1 and len(engine_paths) == 1 and (args.faults or args.crashes) and \
                (not args.max_points or args.times > 2):
            return _one(args, files[0], only)
    except (ScenarioError, ValueError) as exc:
        print(f"nc-harness sweep: {exc}", file=sys.stderr)
        return 2
    if kinds[0].startswith("fault-x"):
        print("nc-harness sweep: --times above 2 sweeps one scenario on one path at a time", file=sys.stderr)
        return 2
    options = SweepOptions(only, args.all_commands, args.build_workers, args.pairs, args.seed, not args.rerun,
                           args.sample, args.max_points)

    def show(row) -> None:
        name = os.path.splitext(os.path.basename(row.scenario))[0]
        where = f"{name} [{row.path} {row.kind}]"
        if row.report is None:
            print(f"{where}: {'error: ' + row.error if row.error else 'skipped: ' + row.skipped}", flush=True)
            return
        _print_points(args, row.report, f"{row.kind}-{row.path}")
        print(f"{where}: {row.report.line()} ({row.seconds:.1f} s)", flush=True)

    rows = sweep_many(files, kinds, engine_paths, args.jobs, options, on_row=show)
    print()
    print(table(rows), end="")
    return 0 if all(row.ok for row in rows) else 1


def _one(args, path: str, only) -> int:
    """One scenario, --faults or --crashes, one engine path: the sweep's own report."""
    from harness.scenario import ScenarioError
    from harness.sweeps.crashes import sweep_crashes
    from harness.sweeps.faults import sweep_faults
    try:
        if args.crashes:
            report = sweep_crashes(path, only, reboots=not args.no_reboots, jobs=args.jobs,
                                   fast_path=args.fast_path or args.engine_paths == "fast",
                                   all_commands=args.all_commands, build_workers=args.build_workers,
                                   branched=not args.rerun, sample=args.sample, seed=args.seed)
        else:
            report = sweep_faults(path, args.times, only, jobs=args.jobs,
                                  fast_path=args.fast_path or args.engine_paths == "fast",
                                  all_commands=args.all_commands, build_workers=args.build_workers,
                                  branched=not args.rerun, sample=args.sample, seed=args.seed)
    except (ScenarioError, ValueError) as exc:
        print(f"nc-harness sweep: {exc}", file=sys.stderr)
        return 2
    _print_points(args, report, "")
    print(f"{report.scenario}: {report.line()}")
    return 0 if report.count("leak") == report.count("wrong state") == 0 else 1


def _print_points(args, report, tag: str) -> None:
    for point in report.points:
        if args.verbose or point.outcome != "clean":
            print(f"  k={point.label} {point.outcome}: {point.command[:100]}" + (f" ({point.detail})" if point.detail
                                                                                 else ""))
        if point.outcome != "clean" and point.program and args.save:
            os.makedirs(args.save, exist_ok=True)
            name = f"{report.scenario}{'-' + tag if tag else ''}-k{point.k}" \
                   f"{'-reboot' if point.command.endswith('[reboot]') else ''}.yaml"
            with open(os.path.join(args.save, name), "w", encoding="utf-8") as fh:
                fh.write(point.program)
            print(f"    reproduce: nc-harness run {os.path.join(args.save, name)}")
