"""Every scenario, every way: the sweep kinds (harness.sweeps.kinds) over several scenarios and both engine paths,
one row each, and the summary table `nc-harness sweep` ends with.

A row is skipped, with the reason, where the sweep does not apply: a scenario that needs what the simulator is
not (a real hypervisor, a long run, ...), the fast path of one that names NC 3.3's exact commands, crash kinds
of one with image steps or that kills the engine itself. A scenario that fails without any fault is an error
row: a sweep of it would show nothing."""
from __future__ import annotations

import time
from dataclasses import dataclass

from harness.sweeps.branching import isolated
from harness.sweeps.faults import SweepReport
from harness.sweeps.kinds import KINDS, SweepOptions

PATHS = ("nc", "fast")    # NC 3.3's own commands, and the engine's fast path


@dataclass
class Row:
    scenario: str         # the file
    path: str             # nc | fast
    kind: str
    report: SweepReport | None = None
    skipped: str = ""     # why the sweep does not apply
    error: str = ""       # the scenario cannot be swept: it fails on its own
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and (self.report is None or
                                   self.report.count("leak") == self.report.count("wrong state") == 0)


def _refusal(message: str) -> bool:
    """The sweep refused the scenario for what it is (not for failing)."""
    return "fails without" not in message


def sweep_row(path: str, engine_path: str, kind: str, jobs: int, options: SweepOptions) -> Row:
    from harness.scenario import ScenarioError, load
    row = Row(path, engine_path, kind)
    try:
        sc = load(path)
    except ScenarioError as exc:
        row.error = str(exc)
        return row
    reason = sc.unmet("sim")
    if reason:
        row.skipped = reason
        return row
    start = time.monotonic()
    try:
        row.report = KINDS[kind].run(path, engine_path == "fast", jobs, options)
    except (ValueError, ScenarioError) as exc:
        if _refusal(str(exc)):
            row.skipped = str(exc).split(": ", 1)[-1]
        else:
            row.error = str(exc)
    row.seconds = time.monotonic() - start
    return row


def sweep_many(files: list[str], kinds: list[str], paths: list[str], jobs: int, options: SweepOptions,
               on_row=None) -> list[Row]:
    """Each sweep in a process of its own, forked from this one: a scenario with an object store leaves its S3
    server's thread behind in the process that ran it, and a process with threads cannot branch (it would re-run
    every point of every later sweep)."""
    rows = []
    for path in files:
        for engine_path in paths:
            for kind in kinds:
                row = isolated(sweep_row, path, engine_path, kind, jobs, options)
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def table(rows: list[Row]) -> str:
    """One line per row and a total: points and outcomes, seconds, or why it was skipped."""
    import os
    names = [os.path.splitext(os.path.basename(r.scenario))[0] for r in rows]
    width = max([len(n) for n in names] + [8])
    head = f"{'scenario':<{width}}  path  {'kind':<12}  points  clean  leaks  wrong  seconds"
    lines = [head, "-" * len(head)]
    total = [0, 0, 0, 0, 0.0]
    for name, r in zip(names, rows):
        if r.report is None:
            note = f"error: {r.error}" if r.error else f"skipped: {r.skipped}"
            lines.append(f"{name:<{width}}  {r.path:<4}  {r.kind:<12}  {note}")
            continue
        counts = [len(r.report.points), r.report.count("clean"), r.report.count("leak"),
                  r.report.count("wrong state")]
        total = [a + b for a, b in zip(total, counts + [r.seconds])]
        lines.append(f"{name:<{width}}  {r.path:<4}  {r.kind:<12}  {counts[0]:>6}  {counts[1]:>5}  {counts[2]:>5}  "
                     f"{counts[3]:>5}  {r.seconds:>7.1f}")
    lines.append("-" * len(head))
    swept = sum(r.report is not None for r in rows)
    lines.append(f"{'total':<{width}}  {swept:>4}  {'sweeps':<12}  {total[0]:>6}  {total[1]:>5}  {total[2]:>5}  "
                 f"{total[3]:>5}  {total[4]:>7.1f}")
    return "\n".join(lines) + "\n"
