"""Seed trace replay speed on the simulator: replays per second and commands per second (one run)."""
from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.backends.sim import SimHost  # noqa: E402
from harness.replay import replay  # noqa: E402
from harness.trace import parse_trace, read_text  # noqa: E402

TARGET_SECONDS = 0.010


def main() -> None:
    path = os.path.join(ROOT, "scenarios", "traces", "seed-000.log")
    commands = parse_trace(read_text(path), path)
    runs = 5
    start = time.perf_counter()
    for _ in range(runs):
        outcome = replay(SimHost(dialect="el6"), commands)
        assert not outcome.failures
    elapsed = (time.perf_counter() - start) / runs
    print(f"seed trace: {len(commands)} commands, {elapsed * 1000:.1f} ms per replay")
    print(f"replays per second: {1 / elapsed:.1f}; commands per second: {len(commands) / elapsed:.0f}")
    print(f"ratio to the 10 ms target: {elapsed / TARGET_SECONDS:.1f}x (<= 1.0 meets it)")


if __name__ == "__main__":
    main()
