"""Explore schedules as pytest items (`pytest --nc-explore=N scenarios/concurrent/busy-node.yaml -n 2`): for each
scenario with `concurrently` steps, N PCT-random schedules (harness.explore.interleavings), each an item of its own
(`FILE::explore::seed S`) that pytest-xdist spreads over cores or machines. A failing schedule fails its item with
the invariant it broke and is saved (`--nc-run-dir`, or a temporary directory) as a scenario that replays it."""
from __future__ import annotations

import pytest

from harness.pytest_items import ItemFailed, NcItem


class ScheduleFailed(ItemFailed):
    pass


def explore_nodes(parent, scenario):
    if not any(step.kind == "concurrently" for step in scenario.steps):
        return
    yield ExploreNode.from_parent(parent, name="explore", count=parent.config.getoption("--nc-explore"),
                                  preemptions=parent.config.getoption("--nc-explore-preemptions"))


class ExploreNode(pytest.Collector):
    def __init__(self, *, count, preemptions, **kw):
        super().__init__(**kw)
        self.count, self.preemptions = count, preemptions
        self.explorer = None
        self.horizon = 1

    def collect(self):
        from harness.explore.interleavings import Explorer
        self.explorer = Explorer(str(self.path))
        # the default order's decisions bound where a PCT schedule's change points fall, as explore's do
        self.horizon = max(1, self.explorer.run({"switches": []}, "no preemption").decisions)
        for seed in range(self.count):
            yield ScheduleItem.from_parent(self, name=f"seed {seed}", seed=seed)


class ScheduleItem(NcItem):
    def __init__(self, *, seed, **kw):
        super().__init__(**kw)
        self.seed = seed

    def runtest(self):
        node = self.parent
        spec = {"seed": self.seed, "preemptions": node.preemptions, "horizon": node.horizon}
        outcome = node.explorer.run(spec, f"seed {self.seed}")
        if not outcome.ok:
            import tempfile
            where = self.config.getoption("--nc-run-dir") or tempfile.mkdtemp(prefix="nc-harness-explore-")
            saved = node.explorer.save(outcome, where)
            raise ScheduleFailed(f"{outcome.failure}\n(replay: nc-harness run {saved})")


