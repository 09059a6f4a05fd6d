"""Fault-sweep cost per point, for a scenario and for the same scenario with its engine steps repeated 4 times,
side by side in one run (target: the ratio at most 1.3, i.e. a point does not pay for its prefix), for the
branched sweep (harness/sweeps/branching.py) and for points re-run from the start (the sweep before it), whose
cost grows with the scenario's length; and the points per second of each.

Usage: python3 benchmarks/sweep.py [SCENARIO] [--quick]   (--quick: the branched sweep's figures only)"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.sweeps.faults import sweep_faults  # noqa: E402

TARGET_RATIO = 1.3
# the steps that pin what one pass leaves (names, numbers, commands): a repeated pass legitimately differs
CHECK_ONLY = {"expect", "expect_commands", "expect_files", "expect_instances", "expect_guest_file",
              "expect_guest_fs", "check_invariants"}


def repeated(path: str, times: int, directory: str) -> str:
    """The scenario's engine steps `times` over (a launch and its terminate make a pass the next one repeats)."""
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    steps = [s for s in doc["steps"] if next(iter(s)) not in CHECK_ONLY]
    doc["steps"] = steps * times
    doc["name"] = f"{doc['name']}-x{times}"
    out = os.path.join(directory, f"x{times}.yaml")
    with open(out, "w", encoding="utf-8") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    return out


def cost_per_point(path: str, branched: bool) -> tuple[int, float]:
    start = time.perf_counter()
    report = sweep_faults(path, branched=branched)
    elapsed = time.perf_counter() - start
    assert report.count("clean") == len(report.points), f"{path}: not every point is clean"
    return len(report.points), elapsed / max(1, len(report.points))


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    path = args[0] if args else os.path.join(ROOT, "scenarios", "termination-cleanup.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        once = repeated(path, 1, tmp)
        four = repeated(path, 4, tmp)
        cost_per_point(once, True)   # imports and first calls are no point's cost
        figures = {}
        for branched in (True,) if quick else (True, False):
            figures[branched] = (*cost_per_point(once, branched), *cost_per_point(four, branched))
    name = os.path.basename(path)
    for branched, (n1, c1, n4, c4) in figures.items():
        ratio = c4 / c1
        label = "branched" if branched else "re-run from the start"
        verdict = f" (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'not met'})" if branched else ""
        print(f"{name}, {label}: {n1} points at {c1 * 1000:.1f} ms each ({1 / c1:.0f}/s); steps x4: {n4} points at "
              f"{c4 * 1000:.1f} ms each ({1 / c4:.0f}/s); ratio {ratio:.2f}{verdict}")
    if False in figures:
        print(f"branched against re-run: {figures[False][1] / figures[True][1]:.1f}x the points per second, "
              f"{figures[False][3] / figures[True][3]:.1f}x with steps x4")


if __name__ == "__main__":
    main()
