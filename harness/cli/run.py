"""`nc-harness run PATH...`: run YAML scenarios (files or directories) and print one line per scenario."""
from __future__ import annotations

import os
import sys

from harness.backends import backend_help
from harness.scenario import ScenarioError, load
from harness.scenario.runner import run_scenario


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run YAML scenarios on the simulator (or a node)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or directories (searched recursively)")
    p.add_argument("--record", metavar="TRACE", help="write every command the engine issued, in the NC log format")
    p.add_argument("--then", action="append", default=[], metavar="CMD",
                   help="run on the node after each scenario; its output is printed (repeatable)")
    p.add_argument("--backend", default="sim", help=backend_help())
    p.add_argument("--run-dir", metavar="DIR", help="save each scenario's result.json, trace and failure bundle here "
                                                   "(for `nc-harness report DIR --html`)")
    p.add_argument("--progress", action="store_true", help="a live progress line on stderr (rich)")
    p.add_argument("--fast-path", action="store_true",
                   help="the engine's fast path on every scenario (expect_commands steps, which name NC 3.3's "
                        "exact commands, are left out)")
    p.add_argument("--build-workers", type=int, default=1, metavar="N",
                   help="also run every scenario with N artifacts built at once (node option build_workers) and "
                        "check it leaves the same devices, numbers aside, before every step (harness.sweeps.parallel)")
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
    if args.backend != "sim":
        from harness.backends import make_host
        try:
            make_host(args.backend)   # a backend that cannot work says why before anything runs
        except ValueError as exc:
            print(f"nc-harness run: {exc}", file=sys.stderr)
            return 2
    if not 1 <= args.build_workers <= 16:
        print("nc-harness run: --build-workers: 1 to 16", file=sys.stderr)
        return 2
    if args.fast_path:
        for sc in scenarios:
            sc.fast_path()
    failed, records = 0, []
    progress = Progress(len(scenarios)) if args.progress else None
    for sc in scenarios:
        reason = sc.unmet(args.backend)
        if args.fast_path and sc.engine_path == "compatible":
            reason = "its faults name NC 3.3's exact commands (engine_path: compatible)"
        if args.build_workers > 1 and sc.build_order == "sequential":
            reason = "its faults or loop counts assume one build at a time (build_order: sequential)"
        if reason:
            print(f"SKIP {sc.name}: {reason}", flush=True)
            continue
        result, line = _run_one(sc, args, progress)
        if args.determinism_check:
            again, _ = _run_one(_reload(sc, args), args, None)
            mismatch = first_divergence(result.events(), again.events())
            if mismatch:
                result.ok = False
                line = f"FAIL {sc.name}: not deterministic: {mismatch}"
            else:
                line += f" digest {result.digest()[:16]} twice"
        print(line, flush=True)
        for entry in result.log:
            if entry.startswith(("retried: ", "boot check ", "BUNDLE\t")):
                print(f"  {entry}", flush=True)
        for out in result.then_outputs:
            sys.stdout.write(out)
        failed += not result.ok
        records.append((sc.name, result.recorder.render()))
        if args.run_dir:
            from harness.report.rundir import save_result
            save_result(result, args.run_dir, args.backend)
    if progress:
        progress.close()
    if args.record:
        text = records[0][1] if len(records) == 1 else "".join(f"# scenario {n}\n{r}" for n, r in records)
        try:
            with open(args.record, "w") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"nc-harness run: {args.record}: cannot write: {exc.strerror}", file=sys.stderr)
            return 2
    return 1 if failed else 0


def _run_one(sc, args, progress):
    """(result, line): as written, or built both ways with --build-workers (the result is the run at once)."""
    if args.build_workers > 1:
        from harness.sweeps.parallel import compare_build_orders
        comparison = compare_build_orders(sc, args.build_workers, args.backend)
        comparison.at_once.ok = comparison.ok
        return comparison.at_once, comparison.line(args.build_workers)
    result = run_scenario(sc, backend=args.backend, then=args.then, on_step=progress.step if progress else None)
    return result, result.line()


def _reload(sc, args):
    """A fresh copy of the scenario as this run took it (a run changes its scenario's steps as it goes)."""
    if not sc.path:
        return sc
    again = load(sc.path)
    return again.fast_path() if args.fast_path else again


def first_divergence(a: list[str], b: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"event {i + 1} differs: {x!r} then {y!r}"
    if len(a) != len(b):
        return f"{len(a)} events, then {len(b)}"
    return ""


class Progress:
    """scenario, step, commands so far, virtual and wall time, on one live line (stderr)."""

    def __init__(self, total: int):
        import time

        from rich.console import Console
        from rich.live import Live
        self.time, self.total, self.done, self.current = time, total, 0, ""
        self.start = time.monotonic()
        self.live = Live("", console=Console(stderr=True), refresh_per_second=8, transient=True)
        self.live.start()

    def step(self, result, step) -> None:
        if result.scenario.name != self.current:
            self.current = result.scenario.name
            self.done += 1
        virtual = result.recorder.commands[-1].when - result.recorder.commands[0].when if result.recorder.commands \
            else 0.0
        self.live.update(f"[{self.done}/{self.total}] {self.current} · step {step.index} {step.label} · "
                         f"{len(result.recorder.commands)} commands · virtual {virtual:.2f}s · "
                         f"wall {self.time.monotonic() - self.start:.1f}s")

    def close(self) -> None:
        self.live.stop()
