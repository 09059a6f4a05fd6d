"""The kinds of sweep point, by name: what happens at each command of a scenario's run. One registry, read by
`nc-harness sweep --kinds`, the pytest plugin's `--nc-sweep` and the docs."""
from __future__ import annotations

from dataclasses import dataclass

from harness.sweeps.crashes import plan_crashes
from harness.sweeps.faults import SweepPlan, SweepReport, plan_faults


@dataclass(frozen=True)
class SweepKind:
    name: str
    what: str
    plan: object     # (path, fast_path, options) -> SweepPlan

    def run(self, path: str, fast_path: bool, jobs: int, options) -> SweepReport:
        plan = self.plan(path, fast_path, options)
        report = SweepReport(plan.name)
        report.points = plan.run(jobs, options.branched)
        return report


@dataclass
class SweepOptions:
    """What the kinds share: `only` (points to run), `all_commands`, `build_workers`, `pairs` and `seed` (the
    pairs kind's sample and `sample`'s), `branched` (False re-runs every point from the start), `sample` (a sweep
    that cannot branch runs this many of its points; 0: all), `max_points` (any sweep runs at most this many)."""
    only: list[int] | None = None
    all_commands: bool = False
    build_workers: int = 1
    pairs: int = 40
    seed: int = 0
    branched: bool = True
    sample: int = 0
    max_points: int = 0


def _faults(times: int):
    def plan(path: str, fast_path: bool, o: SweepOptions) -> SweepPlan:
        return plan_faults(path, times, o.only, fast_path, o.all_commands, o.build_workers, seed=o.seed,
                           sample=o.sample, max_points=o.max_points)
    return plan


def _crashes(variants: tuple[bool, ...]):
    def plan(path: str, fast_path: bool, o: SweepOptions) -> SweepPlan:
        return plan_crashes(path, o.only, variants, fast_path, o.all_commands, o.build_workers, o.sample, o.seed,
                            o.max_points)
    return plan


def _pairs(path: str, fast_path: bool, o: SweepOptions) -> SweepPlan:
    return plan_faults(path, 1, o.only, fast_path, o.all_commands, o.build_workers, o.pairs, o.seed, o.sample)


KINDS: dict[str, SweepKind] = {k.name: k for k in (
    SweepKind("fault", "each command fails once, as the real tool fails; rollback must leave no trace", _faults(1)),
    SweepKind("fault-twice", "each command fails twice in a row (a transient failure the engine's bounded "
                             "retries may absorb)", _faults(2)),
    SweepKind("crash", "the engine is killed after each command, then restarted: recovery adopts or cleans up",
              _crashes((False,))),
    SweepKind("crash-reboot", "the engine is killed after each command and the host rebooted there (devices "
                              "lost, files kept), then the engine restarted", _crashes((True,))),
    SweepKind("pairs", "sampled pairs of commands (seeded) both failing in one run: a failure during the "
                       "rollback of another", _pairs),
)}
# the names `--crashes`/`--faults` and pytest's `--nc-sweep` also take: each stands for these kinds
GROUPS = {"faults": ["fault"], "crashes": ["crash", "crash-reboot"]}


def parse_kinds(text: str, option: str = "--kinds") -> list[str]:
    """Kind names, comma-separated; `faults` and `crashes` stand for their groups (GROUPS)."""
    names = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in names if k not in KINDS and k not in GROUPS]
    if unknown or not names:
        raise ValueError(f"{option}: '{unknown[0] if unknown else text}' is not a sweep kind "
                         f"({', '.join([*KINDS, *GROUPS])})")
    return list(dict.fromkeys(k for name in names for k in GROUPS.get(name, [name])))
