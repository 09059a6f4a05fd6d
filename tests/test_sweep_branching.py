"""Branched sweeps (harness/sweeps/branching.py) give what re-running each point from the start gives: the same
points, the same outcomes and details, the same crash programs, for every kind of point."""
from __future__ import annotations

import os

import pytest

from harness.sweeps.kinds import KINDS, SweepOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _same(path: str, kind: str, fast: bool = False, **options) -> int:
    """In a process of its own (forked, so one thread: an earlier test's S3 server thread would keep this one
    from branching, and the comparison would be of re-runs with re-runs)."""
    from harness.sweeps.branching import isolated
    return isolated(_compare, path, kind, fast, options)


def _compare(path: str, kind: str, fast: bool, options: dict) -> int:
    import threading
    assert threading.active_count() == 1
    plan = KINDS[kind].plan(path, fast, SweepOptions(**options))
    branched, rerun = plan.run(2, True), plan.run(2, False)
    assert [p.label for p in branched] == [p.label for p in rerun]
    for b, r in zip(branched, rerun):
        assert (b.command, b.outcome, b.detail, b.program) == (r.command, r.outcome, r.detail, r.program), b.label
    return len(branched)


@pytest.mark.parametrize("path,kind,fast,options", [
    ("scenarios/cold-cache.yaml", "fault", False, {}),
    ("scenarios/cold-cache.yaml", "fault-twice", False, {"only": list(range(1, 40))}),
    ("scenarios/cold-cache.yaml", "crash", False, {"only": list(range(30, 60))}),
    ("scenarios/cold-cache.yaml", "crash-reboot", True, {"only": list(range(1, 25))}),
    ("scenarios/termination-cleanup.yaml", "pairs", False, {"pairs": 30, "seed": 3}),
    ("scenarios/warm-cache.yaml", "fault", True, {"all_commands": True, "only": list(range(1, 60))}),
    ("scenarios/regressions/e05-transient-busy.yaml", "crash", False, {"only": list(range(108, 123))}),
    ("scenarios/regressions/s01-cache-shared-between-nodes.yaml", "fault", False, {}),
    ("scenarios/imager-boot-disk.yaml", "crash", False, {"only": list(range(1, 20))}),
])
def test_branched_points_equal_points_run_from_the_start(path, kind, fast, options):
    assert _same(os.path.join(ROOT, path), kind, fast, **options) > 10


def test_a_tolerated_faults_branch_stops_where_its_state_is_the_unfaulted_runs():
    """termination-cleanup's launches and terminates retry a busy attach or removal: many such branches are,
    at the next step's start, in the unfaulted run's state, and stop there instead of running to the end."""
    from harness.sweeps.branching import isolated
    points = isolated(_termination_cleanup_branched)
    assert all(p.outcome == "clean" for p in points)
    stopped = [p for p in points if p.stopped]
    assert len(stopped) > 20 and all(p.detail == "tolerated" for p in stopped)
    assert {p.stopped for p in stopped} >= {2, 3}


def _termination_cleanup_branched() -> list:
    return KINDS["fault"].plan(os.path.join(ROOT, "scenarios/termination-cleanup.yaml"), False,
                               SweepOptions()).run(2, True)


LONG = os.environ.get("NC_EXPLORE") == "1"


def _forkable_shipped() -> list[str]:
    from harness.cli.run import collect
    from harness.scenario import load
    from harness.sweeps.branching import forkable
    out = []
    for path in collect([os.path.join(ROOT, "scenarios")]):
        sc = load(path)
        if forkable(sc) and not sc.unmet("sim"):
            out.append(os.path.relpath(path, ROOT))
    return out


@pytest.mark.skipif(not LONG, reason="every shipped scenario, both ways: a few minutes (NC_EXPLORE=1, CI's long stage)")
@pytest.mark.parametrize("kind", ["fault", "crash"])
@pytest.mark.parametrize("path", _forkable_shipped())
def test_every_shipped_scenario_branches_to_the_same_outcomes(path, kind):
    """Every shipped scenario the sweeps branch: 12 points (every point of a short one) drawn with a fixed seed,
    branched and re-run from the start, must agree."""
    import random
    try:
        plan = KINDS[kind].plan(os.path.join(ROOT, path), False, SweepOptions())
    except ValueError as exc:
        pytest.skip(str(exc).split(": ", 1)[-1])
    ks = sorted({key[0] for key in plan.keys})
    only = sorted(random.Random(path).sample(ks, min(12, len(ks))))
    assert _same(os.path.join(ROOT, path), kind, only=only) >= len(only)
