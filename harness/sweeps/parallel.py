"""`nc-harness run --build-workers N`: a scenario built with N artifacts at once must leave the same devices as
built one at a time.

The scenario runs as written (one at a time, every expectation checked), then again with `build_workers: N`.
Loop numbers and dm minors follow the order devices were made in, which the second run changes, so its
`expect`, `expect_files` and `expect_commands` steps (which pin those numbers, in listings and in `loopback`
records, and count commands a busy lock repeats) are left out, and instead the node's device stack, numbers taken out
(harness.checks.shape), is compared with the first run's before every step and at the end."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from harness.checks.compare import first_difference, mask
from harness.checks.shape import device_shape
from harness.scenario import Scenario
from harness.scenario.runner import ScenarioResult, run_scenario, snapshot

PINNING = ("expect", "expect_files", "expect_commands")   # steps that name loop numbers, dm minors or counts


@dataclass
class OrderComparison:
    one_at_a_time: ScenarioResult
    at_once: ScenarioResult
    difference: str = ""     # empty: the same devices before every step

    @property
    def ok(self) -> bool:
        return self.one_at_a_time.ok and self.at_once.ok and not self.difference

    def line(self, workers: int) -> str:
        if not self.one_at_a_time.ok:
            return self.one_at_a_time.line()
        if not self.at_once.ok:
            return f"FAIL {self.at_once.scenario.name}: with {workers} build workers: {self.at_once.failure}"
        if self.difference:
            return f"FAIL {self.at_once.scenario.name}: with {workers} build workers: {self.difference}"
        base = self.one_at_a_time.line()
        return f"{base}; {workers} build workers: same devices ({len(self.at_once.recorder.commands)} commands)"


def _shapes(scenario: Scenario, backend: str) -> tuple[ScenarioResult, list[tuple[str, str]]]:
    from harness.backends import make_host
    host = make_host(backend, dialect=scenario.dialect, seed=scenario.seed)
    shapes: list[tuple[str, str]] = []
    # bundling names the bundle by its digest, which holds mount times the virtual clock gave: the order of
    # commands moves that clock, so those names are compared with their ids masked
    ignore = ("ids",) if any(s.kind == "bundle_instance" for s in scenario.steps) else ()

    def shape() -> str:
        if not ignore:
            return device_shape(snapshot(host))
        # sorted again once the ids are masked: they set the order the listings were sorted in
        return "\n".join(sorted(mask(device_shape(snapshot(host)), ignore).splitlines())) + "\n"

    def on_step(result, step):
        if step.kind not in PINNING:
            shapes.append((f"before step {step.index} ({step.label})", shape()))

    result = run_scenario(scenario, backend=backend, host=host, on_step=on_step)
    shapes.append(("at the end", shape()))
    return result, shapes


def compare_build_orders(scenario: Scenario, workers: int, backend: str = "sim") -> OrderComparison:
    at_once = copy.deepcopy(scenario)
    at_once.node = dict(at_once.node, build_workers=workers)
    at_once.steps = [s for s in at_once.steps if s.kind not in PINNING]
    first, first_shapes = _shapes(scenario, backend)
    second, second_shapes = _shapes(at_once, backend)
    comparison = OrderComparison(first, second)
    # what a `concurrently` step leaves may depend on its interleaving (which blobs a purge found unused), and
    # build workers are more tasks in the schedule: the devices are compared up to the first such step
    concurrent = [s.index for s in scenario.steps if s.kind == "concurrently"]
    cut = f"before step {concurrent[0] + 1} (" if concurrent else None
    for (where, a), (_, b) in zip(first_shapes, second_shapes):
        if cut is not None and (where.startswith(cut) or where == "at the end"):
            break
        if a != b:
            comparison.difference = f"{where}: device shape differs: {first_difference(a, b)}"
            break
    return comparison
