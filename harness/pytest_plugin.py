"""pytest plugin (entry point `nc_harness`): scenarios and traces as test items, one per step.

`scenarios/**/*.yaml` become `FILE::SCENARIO::STEP` items (`cold-cache::run i-1A2B3C4D`) plus a final
`leak check`; `scenarios/traces/NAME.log` with `NAME.expect.yaml` beside it becomes one replay item.
A scenario runs once per process, on its first item; later items report their own step. With `--nc-sweep`,
each scenario's sweep points are the items instead (harness.pytest_sweep); with `--nc-explore N`, N schedules
of each scenario with concurrent operations (harness.pytest_explore).
"""
from __future__ import annotations

import os
import tempfile

import pytest

from harness.pytest_items import ItemFailed, NcItem
from harness.scenario import ScenarioError
from harness.scenario import load as load_scenario

_RESULTS: dict = {}


def pytest_addoption(parser):
    group = parser.getgroup("nc-harness")
    group.addoption("--nc-backend", default="sim", help="backend for scenarios (default: sim)")
    group.addoption("--nc-dialect", default=None, choices=["debian12", "el6"],
                    help="override every scenario's dialect")
    group.addoption("--nc-seed", type=int, default=None, help="override every scenario's seed")
    group.addoption("--nc-sweep", default=None, metavar="KINDS",
                    help="instead of running each scenario, sweep it: one item per point, for these kinds "
                         "(comma-separated: faults, crashes, or fault, fault-twice, crash, crash-reboot, pairs)")
    group.addoption("--nc-sweep-paths", default="nc", metavar="nc,fast",
                    help="with --nc-sweep: the engine paths (nc, fast, or nc,fast; default nc)")
    group.addoption("--nc-sweep-pairs", type=int, default=40, help="with --nc-sweep: pairs per scenario (default 40)")
    group.addoption("--nc-explore", type=int, default=0, metavar="N",
                    help="instead of running each scenario, run N PCT-random schedules of each one with concurrent "
                         "operations, one item each (harness.pytest_explore)")
    group.addoption("--nc-explore-preemptions", type=int, default=2, help="with --nc-explore: preemptions per "
                                                                        "schedule (default 2)")
    group.addoption("--nc-inventory", default=None, metavar="FILE",
                    help="an inventory of nodes (harness.fleet.inventory): xdist worker gwN runs on the N-th")
    group.addoption("--nc-run-dir", default=None,
                    help="where result.json, traces and failure bundles go, for `nc-harness report DIR --html` "
                         "(default: a temporary directory)")


def backend_of(config) -> str:
    """The backend this process runs scenarios on: --nc-backend, or its worker's node of --nc-inventory (whose
    ssh key, if the inventory names one, is the one NC_SSH_IDENTITY gives the ssh backend)."""
    path = config.getoption("--nc-inventory")
    if not path:
        return config.getoption("--nc-backend")
    if not hasattr(config, "_nc_node"):
        from harness.fleet.inventory import InventoryError, load_inventory, node_for_worker
        try:
            config._nc_node = node_for_worker(load_inventory(path), os.environ.get("PYTEST_XDIST_WORKER", ""))
        except InventoryError as exc:
            raise pytest.UsageError(str(exc)) from None
        if config._nc_node.identity:
            os.environ["NC_SSH_IDENTITY"] = config._nc_node.identity
        if config._nc_node.hypervisor is not None:
            # a node `nightly` brought up on a libvirt entry's hypervisor: Vagrant finds it with that entry's env
            from harness.backends.vagrant import PROJECT_DIR
            os.environ.update(config._nc_node.hypervisor.vagrant_env(PROJECT_DIR))
    return config._nc_node.target


def pytest_collect_file(file_path, parent):
    parts = file_path.parts
    if "scenarios" not in parts:
        return None
    if file_path.suffix in (".yaml", ".yml") and not file_path.name.endswith((".expect.yaml", ".expect.yml")):
        return ScenarioFile.from_parent(parent, path=file_path)
    if file_path.suffix == ".log" and file_path.with_name(file_path.stem + ".expect.yaml").exists():
        return TraceFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Keep a scenario's step items on one worker (default `--dist load` only); sweep points, each a run of its
    own, are spread one by one."""
    if config.getoption("dist", "load") != "load" or config.getoption("--nc-sweep") or \
            config.getoption("--nc-explore"):
        return None
    from xdist.scheduler import LoadScopeScheduling
    return LoadScopeScheduling(config, log)


def _run_dir(config) -> str:
    path = config.getoption("--nc-run-dir")
    if path is None:
        if not hasattr(config, "_nc_run_dir"):
            config._nc_run_dir = tempfile.mkdtemp(prefix="nc-harness-run-")
        path = config._nc_run_dir
    os.makedirs(path, exist_ok=True)
    return path


class ScenarioFile(pytest.File):
    def collect(self):
        try:
            scenario = load_scenario(str(self.path))
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        if self.config.getoption("--nc-sweep"):
            from harness.pytest_sweep import sweep_nodes
            yield from sweep_nodes(self, scenario)
            return
        if self.config.getoption("--nc-explore"):
            from harness.pytest_explore import explore_nodes
            yield from explore_nodes(self, scenario)
            return
        yield ScenarioNode.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioNode(pytest.Collector):
    def __init__(self, *, scenario, **kw):
        super().__init__(**kw)
        self.scenario = scenario

    def collect(self):
        seen: dict[str, int] = {}
        for step in self.scenario.steps:
            seen[step.label] = seen.get(step.label, 0) + 1
            name = step.label if seen[step.label] == 1 else f"{step.label} #{seen[step.label]}"
            yield StepItem.from_parent(self, name=name, step_index=step.index)
        yield StepItem.from_parent(self, name="leak check", step_index=None)

    def result(self):
        key = (str(self.path), backend_of(self.config), self.config.getoption("--nc-dialect"),
               self.config.getoption("--nc-seed"))
        if key not in _RESULTS:
            from harness.report.rundir import save_result
            from harness.scenario.runner import run_scenario
            scenario = self.scenario
            if key[2]:
                scenario.node["dialect"] = key[2]
            if key[3] is not None:
                scenario.node["seed"] = key[3]
            worker = os.environ.get("PYTEST_XDIST_WORKER", "")
            # on the simulator every scenario has a node of its own; a real node is shared by the workers
            result = run_scenario(scenario, backend=key[1], isolation=worker if key[1] != "sim" else "")
            out = save_result(result, _run_dir(self.config), key[1])
            _RESULTS[key] = (result, out)
        return _RESULTS[key]


class ScenarioStepFailed(ItemFailed):
    pass


class StepItem(NcItem):
    def __init__(self, *, step_index, **kw):
        super().__init__(**kw)
        self.step_index = step_index

    def runtest(self):
        reason = self.parent.scenario.unmet(backend_of(self.config))
        if reason:
            pytest.skip(reason)
        result, out = self.parent.result()
        sc = self.parent.scenario
        self.user_properties += [("seed", str(sc.seed)), ("backend", backend_of(self.config)),
                                 ("dialect", sc.dialect), ("trace file", os.path.join(out, "trace.log"))]
        if self.step_index is None:
            if result.leaks:
                raise ScenarioStepFailed("leaked:\n  " + "\n  ".join(result.leaks))
            if any(s.status != "passed" for s in result.steps):
                pytest.skip("the scenario failed before its end")
            return
        outcome = next(s for s in result.steps if s.index == self.step_index)
        if outcome.status == "not run":
            pytest.skip("an earlier step failed")
        if outcome.status == "failed":
            raise ScenarioStepFailed("\n  ".join([outcome.message, *outcome.details[1:]])
                                     + f"\n(debug bundle: {os.path.join(out, 'bundle')})")

class TraceFile(pytest.File):
    def collect(self):
        yield TraceItem.from_parent(self, name="replay")


class TraceItem(NcItem):
    def runtest(self):
        from harness.backends import make_host
        from harness.replay.complete import complete
        from harness.replay.expectations import ExpectationError, check, load
        from harness.replay.replayer import replay
        from harness.replay.sources import load as load_trace
        from harness.replay.trace import TraceError
        try:
            exp = load(str(self.path.with_name(self.path.stem + ".expect.yaml")))
            loaded = load_trace([str(self.path)])     # a trace, a real nc.log or a document
        except (ExpectationError, TraceError) as exc:
            raise ScenarioStepFailed(str(exc)) from None
        commands = complete(loaded.commands, loaded.hints).commands if exp.complete else loaded.commands
        dialect = self.config.getoption("--nc-dialect") or exp.dialect
        self.user_properties += [("backend", backend_of(self.config)), ("dialect", dialect),
                                 ("trace file", str(self.path))]
        with make_host(backend_of(self.config), dialect=dialect,
                       seed=self.config.getoption("--nc-seed") or 0) as host:
            outcome = replay(host, commands, then=[t.command for t in exp.then])
        if outcome.failures:
            raise ScenarioStepFailed(outcome.failures[0].describe(str(self.path)))
        problems = check(exp, outcome.then_outputs)
        if problems:
            raise ScenarioStepFailed("\n  ".join(problems))

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::replay"


_SWEPT: list = []


def pytest_runtest_logreport(report):
    if report.when == "call" and any(name == "sweep" for name, _ in report.user_properties):
        _SWEPT.append(report)


def pytest_terminal_summary(terminalreporter, config):
    if config.getoption("--nc-sweep") and _SWEPT:
        from harness.pytest_sweep import summary_lines
        terminalreporter.section("nc-harness sweeps")
        for line in summary_lines(_SWEPT):
            terminalreporter.write_line(line)
