"""The kinds of sweep point, by name: what happens at each command of a scenario's run. One registry, read by
`nc-harness sweep --kinds`, the pytest plugin's `--nc-sweep` and the docs."""
from __future__ import annotations

from dataclasses import dataclass

from harness.sweeps.crashes import sweep_crashes
from harness.sweeps.faults import SweepReport, sweep_faults


@dataclass(frozen=True)
class SweepKind:
    name: str
    what: str
    run: object      # (path, fast_path, jobs, options) -> SweepReport


@dataclass
class SweepOptions:
    """What the kinds share: `only` (points to run), `all_commands`, `build_workers`, `pairs` and `seed` (the
    pairs kind's sample), `branched` (False re-runs every point from the start)."""
    only: list[int] | None = None
    all_commands: bool = False
    build_workers: int = 1
    pairs: int = 40
    seed: int = 0
    branched: bool = True


def _faults(times: int):
    def run(path: str, fast_path: bool, jobs: int, o: SweepOptions) -> SweepReport:
        return sweep_faults(path, times, o.only, jobs=jobs, fast_path=fast_path, all_commands=o.all_commands,
                            build_workers=o.build_workers, branched=o.branched)
    return run


def _crashes(variants: tuple[bool, ...]):
    def run(path: str, fast_path: bool, jobs: int, o: SweepOptions) -> SweepReport:
        return sweep_crashes(path, o.only, jobs=jobs, fast_path=fast_path, all_commands=o.all_commands,
                             build_workers=o.build_workers, branched=o.branched, variants=variants)
    return run


def _pairs(path: str, fast_path: bool, jobs: int, o: SweepOptions) -> SweepReport:
    return sweep_faults(path, 1, o.only, jobs=jobs, fast_path=fast_path, all_commands=o.all_commands,
                        build_workers=o.build_workers, branched=o.branched, pairs=o.pairs, seed=o.seed)


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


def parse_kinds(text: str) -> list[str]:
    names = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in names if k not in KINDS]
    if unknown or not names:
        raise ValueError(f"--kinds: '{unknown[0] if unknown else text}' is not a sweep kind "
                         f"({', '.join(KINDS)})")
    return list(dict.fromkeys(names))
