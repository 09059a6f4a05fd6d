"""Sweep points as pytest items (`pytest --nc-sweep=faults,crashes scenarios/cold-cache.yaml -n 2`): each point a
run of its own from the scenario's start (harness.sweeps.kinds' plans), so pytest-xdist spreads them over
cores, or machines, one by one. Items are `FILE::sweep[PATH KIND]::kK` (`k17`, `k3+44` for a pair); a point that
is not clean fails with its outcome. The run ends with each sweep's line, as `nc-harness sweep` prints it.

Every worker makes each sweep's plan (one unfaulted run) when it collects: the plans are deterministic, so the
workers agree on the items."""
from __future__ import annotations

import pytest

from harness.pytest_items import ItemFailed, NcItem


class SweepPointFailed(ItemFailed):
    pass


def sweep_nodes(parent, scenario):
    from harness.sweeps.kinds import parse_kinds
    config = parent.config
    try:
        kinds = parse_kinds(config.getoption("--nc-sweep"), "--nc-sweep")
    except ValueError as exc:
        raise parent.CollectError(str(exc)) from None
    paths = [p.strip() for p in config.getoption("--nc-sweep-paths").split(",") if p.strip()]
    if not paths or any(p not in ("nc", "fast") for p in paths):
        raise parent.CollectError(f"--nc-sweep-paths: '{config.getoption('--nc-sweep-paths')}': nc, fast or nc,fast")
    for path in paths:
        for kind in kinds:
            yield SweepNode.from_parent(parent, name=f"sweep[{path} {kind}]", scenario=scenario, engine_path=path,
                                        kind=kind)


class SweepNode(pytest.Collector):
    def __init__(self, *, scenario, engine_path, kind, **kw):
        super().__init__(**kw)
        self.scenario, self.engine_path, self.kind = scenario, engine_path, kind
        self.plan = None

    def collect(self):
        from harness.scenario import ScenarioError
        from harness.sweeps.kinds import KINDS, SweepOptions
        reason = self.scenario.unmet("sim")
        if not reason:
            options = SweepOptions(pairs=self.config.getoption("--nc-sweep-pairs"), branched=False)
            try:
                self.plan = KINDS[self.kind].plan(str(self.path), self.engine_path == "fast", options)
            except (ValueError, ScenarioError) as exc:
                if "fails without" in str(exc):
                    raise self.CollectError(str(exc)) from None
                reason = str(exc).split(": ", 1)[-1]
        if self.plan is None:
            yield SweepPointItem.from_parent(self, name="skipped", key=None, skip=reason)
            return
        for key in self.plan.keys:
            yield SweepPointItem.from_parent(self, name=_name(key), key=key, skip="")


def _name(key) -> str:
    if len(key) == 2 and isinstance(key[1], bool):      # a crash point: (k, reboot)
        return f"k{key[0]}" + ("+reboot" if key[1] else "")
    return "k" + "+".join(str(k) for k in key)


class SweepPointItem(NcItem):
    def __init__(self, *, key, skip, **kw):
        super().__init__(**kw)
        self.key, self.skip_reason = key, skip

    def runtest(self):
        if self.skip_reason:
            pytest.skip(self.skip_reason)
        point = self.parent.plan.point(self.key)
        self.user_properties += [("sweep", f"{self.parent.plan.name} [{self.parent.engine_path} "
                                           f"{self.parent.kind}]"),
                                 ("outcome", point.outcome), ("command", point.command)]
        if point.outcome != "clean":
            raise SweepPointFailed(f"{point.outcome}: {point.command}" + (f" ({point.detail})" if point.detail
                                                                         else ""))




def summary_lines(reports) -> list[str]:
    """Each sweep's line from its items' reports (on xdist's controller too: user properties travel with them)."""
    from harness.sweeps.faults import FaultPoint, SweepReport
    sweeps: dict[str, SweepReport] = {}
    for report in reports:
        props = dict(report.user_properties)
        if "sweep" not in props:
            continue
        sweep = sweeps.setdefault(props["sweep"], SweepReport(props["sweep"]))
        sweep.points.append(FaultPoint(0, props["command"], props["outcome"]))
    return [f"{name}: {sweep.line()}" for name, sweep in sweeps.items()]
