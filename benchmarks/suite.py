"""The whole simulated scenario suite, wall time over 2 processes (target < 5 s on 2 cores), and the state
machine's examples per second, in one run.

    python3 benchmarks/suite.py

Scenarios that need more than the simulator (`requires:`, e.g. boot-check's libvirt) are left out: they are
not the per-commit suite's cost."""
from __future__ import annotations

import glob
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.scenario import load  # noqa: E402
from harness.scenario.runner import run_scenario  # noqa: E402

EXAMPLES, STEPS = 20, 30


def run_one(path: str) -> tuple[str, bool, float]:
    start = time.perf_counter()
    result = run_scenario(load(path))
    return os.path.basename(path), result.ok, time.perf_counter() - start


def main() -> int:
    paths = sorted(p for p in glob.glob(os.path.join(ROOT, "scenarios", "**", "*.yaml"), recursive=True)
                   if not p.endswith(".expect.yaml") and not load(p).requires)
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(run_one, paths, chunksize=1)
    wall = time.perf_counter() - start
    failed = [name for name, ok, _ in results if not ok]
    slowest = max(results, key=lambda r: r[2])
    print(f"{len(paths)} scenarios in {wall:.2f} s over 2 processes ({sum(r[2] for r in results):.2f} s of work; "
          f"slowest {slowest[0]} {slowest[2]:.2f} s){'; FAILED: ' + ', '.join(failed) if failed else ''}")
    from harness.explore.state_machine import explore
    start = time.perf_counter()
    explore(examples=EXAMPLES, steps=STEPS, seed=1, save_dir=os.path.join("/tmp", "nc-harness-bench-explore"))
    rate = EXAMPLES / (time.perf_counter() - start)
    print(f"state machine: {rate:.1f} examples of {STEPS} steps per second")
    print(f"suite wall time {wall:.2f} s (target < 5 s on 2 cores, ratio {wall / 5:.2f}); "
          f"state machine {rate:.1f} examples/s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
