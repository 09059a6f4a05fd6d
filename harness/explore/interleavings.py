"""`explore --interleavings`: one scenario with `concurrently` steps, run under many schedules on the simulator.

Each schedule is one deterministic run; the invariants (harness.checks.invariants) are checked after every step,
and the leak check at the end. A failing schedule is saved as the scenario itself with that schedule written
out as `switches` (harness.concurrency.schedule), so the saved file replays exactly that interleaving.

Where the space is small the schedules are enumerated: depth first over every decision, with at most
`preemptions` preemptions per run (switching away from a task that could have gone on; choices where the
running task waits or ends are free), as CHESS bounds its search. The enumeration gets a quarter of the budget;
if it does not finish, the rest is PCT-random (`PctSchedule`), seeded schedule by schedule.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field

import yaml

from harness.checks.invariants import check
from harness.errors import HarnessError
from harness.scenario.loader import parse
from harness.scenario.registry import ScenarioError, StepFailure
from harness.scenario.runner import run_scenario


class InterleavingError(HarnessError):
    """The scenario cannot be explored (no concurrent step, or it fails under its own schedule)."""


@dataclass
class Outcome:
    label: str            # the schedule as the report names it
    schedule: dict        # what the concurrently step was given
    ok: bool
    failure: str = ""
    switches: list = field(default_factory=list)
    decisions: int = 0
    record: list = field(default_factory=list, repr=False)   # the decisions, with one concurrent step


@dataclass
class InterleavingReport:
    scenario: str
    outcomes: list[Outcome] = field(default_factory=list)
    exhaustive: bool = False      # every schedule within the preemption bound was run
    saved: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def line(self) -> str:
        how = "all schedules within the bound" if self.exhaustive else "schedules"
        if not self.failures:
            return f"PASS {self.scenario}: {len(self.outcomes)} {how}, every invariant held"
        first = self.failures[0]
        return (f"FAIL {self.scenario}: {len(self.failures)} of {len(self.outcomes)} {how} failed; first "
                f"({first.label}): {first.failure}")


def _invariants(result, step, nc) -> None:
    problems = check(nc.io.host, nc, allowed=result.scenario.leaks_allowed)
    if problems:
        raise StepFailure(f"after step {step.index} ({step.label}): invariant: {problems[0]}", problems)


class Explorer:
    def __init__(self, path: str):
        self.path = path
        with open(path, encoding="utf-8") as fh:
            self.doc = yaml.safe_load(fh)
        parse(yaml.safe_dump(self.doc, sort_keys=False), path)   # a bad file is reported before anything runs
        self.concurrent = [i for i, s in enumerate(self.doc.get("steps") or []) if "concurrently" in s]
        if not self.concurrent:
            raise InterleavingError(f"{path}: no concurrently step: nothing to interleave")

    def scenario_text(self, schedule: dict) -> str:
        doc = copy.deepcopy(self.doc)
        for i in self.concurrent:
            doc["steps"][i]["concurrently"]["schedule"] = copy.deepcopy(schedule)
        return yaml.safe_dump(doc, sort_keys=False, width=1000)

    def run(self, schedule: dict, label: str) -> Outcome:
        try:
            sc = parse(self.scenario_text(schedule), self.path)
        except ScenarioError as exc:
            return Outcome(label, schedule, False, str(exc))
        result = run_scenario(sc, after_step=_invariants)
        single = len(result.schedules) == 1
        return Outcome(label, schedule, result.ok, result.failure,
                       result.schedules[0].switches() if single else [],
                       max((len(s.decisions) for s in result.schedules), default=0),
                       result.schedules[0].decisions if single else [])

    def save(self, outcome: Outcome, directory: str) -> str:
        """The failing schedule as a scenario of its own, replaying exactly that interleaving."""
        schedule = ({"switches": outcome.switches} if len(self.concurrent) == 1 else outcome.schedule)
        os.makedirs(directory, exist_ok=True)
        base = re.sub(r"[^A-Za-z0-9_.-]", "-", str(self.doc.get("name") or "scenario"))
        path = os.path.join(directory, f"{base}-interleaving-{len(os.listdir(directory)) + 1}.yaml")
        doc = copy.deepcopy(self.doc)
        doc["name"] = f"{base}-interleaving"
        for i in self.concurrent:
            doc["steps"][i]["concurrently"]["schedule"] = copy.deepcopy(schedule)
        header = (f"# found by nc-harness explore --interleavings ({outcome.label}): {outcome.failure}\n"
                  f"# its schedule replays that interleaving exactly on the engine path it was found on "
                  f"({'fast' if (self.doc.get('node') or {}).get('fast_path') else 'NC 3.3'})\n")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(header + yaml.safe_dump(doc, sort_keys=False, width=1000))
        return path


def explore_interleavings(path: str, schedules: int = 1000, preemptions: int = 2, seed: int = 0,
                          save_dir: str | None = None, stop_at_first: bool = False, progress=None
                          ) -> InterleavingReport:
    ex = Explorer(path)
    report = InterleavingReport(str(ex.doc.get("name") or path))
    first = ex.run({"switches": []}, "no preemption")
    report.outcomes.append(first)
    horizon = max(1, first.decisions)

    def record(outcome: Outcome) -> bool:
        if outcome is not first:
            report.outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
        if not outcome.ok and save_dir is not None and len(report.saved) < 5:
            report.saved.append(ex.save(outcome, save_dir))
        return not outcome.ok and stop_at_first

    if record(first) or schedules <= 1:
        return report
    if len(ex.concurrent) == 1:
        budget = max(1, (schedules - 1) // 4)
        stack = _children([], 0, first, preemptions)
        while stack and budget:
            switches, spent = stack.pop()
            outcome = ex.run({"switches": switches}, f"switches {switches}")
            budget -= 1
            if record(outcome):
                return report
            stack += _children(switches, spent, outcome, preemptions)
        report.exhaustive = not stack
        if report.exhaustive:
            return report
    k = 0
    while len(report.outcomes) < schedules:
        spec = {"seed": seed * 1_000_003 + k, "preemptions": preemptions, "horizon": horizon}
        k += 1
        if record(ex.run(spec, f"seed {spec['seed']}")):
            break
    return report


def _children(switches: list, spent: int, outcome: Outcome, bound: int) -> list[tuple[list, int]]:
    """Runs that differ from this one at one later decision: (switches, preemptions spent), within `bound`."""
    last = switches[-1][0] if switches else 0
    out = []
    for d in outcome.record:
        if d.index <= last:
            continue
        for name in d.candidates:
            if name == d.chosen:
                continue
            cost = spent + (1 if d.running and name != d.running else 0)
            if cost <= bound:
                out.append((switches + [[d.index, name]], cost))
    out.reverse()   # depth first: the latest decisions vary first
    return out
