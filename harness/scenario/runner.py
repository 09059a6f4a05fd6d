"""Run a scenario on a backend: stage its images, run its steps through the engine, check for leaks."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from engine.controller import NodeConfig, NodeController
from engine.nodeio import Recorder, clock_for
from engine.sources import ImageSources, UrlImageSource
from harness.backends import make_host
from harness.checks.compare import compare
from harness.checks.leaks import find_leaks
from harness.images.http_server import ImageServer
from harness.images.staging import StagedImages, StagingError
from harness.scenario.model import Scenario, Step
from harness.scenario.registry import StepFailure
from harness.scenario.steps import KINDS


@dataclass
class StepOutcome:
    index: int
    label: str
    status: str                  # passed | failed | not run
    message: str = ""
    details: list[str] = field(default_factory=list)
    commands: tuple[int, int] = (0, 0)   # recorder slice
    issued: tuple[int, int] = (0, 0)     # slice of recorder.issued: every command the engine ran in the step


@dataclass
class ScenarioResult:
    scenario: Scenario
    ok: bool = True
    failure: str = ""
    details: list[str] = field(default_factory=list)
    recorder: Recorder = field(default_factory=Recorder)
    then_outputs: list[str] = field(default_factory=list)
    steps: list[StepOutcome] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    state_before: dict = field(default_factory=dict)    # normalized node state around the failing step
    state_after: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict)       # step index -> node state before that step
    wall_seconds: float = 0.0
    virtual_seconds: float = 0.0
    controller: object = None                           # the engine as the run left it (sweeps inspect it)
    schedules: list = field(default_factory=list)       # each `concurrently` step's schedule, as it ran
    run: object = None                                  # the ScenarioRun (a sweep's judge starts controllers)

    @property
    def steps_run(self) -> int:
        return sum(s.status == "passed" for s in self.steps)

    def line(self) -> str:
        n = len(self.recorder.commands)
        if self.ok:
            return f"PASS {self.scenario.name} ({self.steps_run} steps, {n} commands)"
        return f"FAIL {self.scenario.name}: {self.failure}"

    def digest(self) -> str:
        """Of the full event log: every command with its exit status and virtual time, every step outcome."""
        h = hashlib.sha256()
        for event in self.events():
            h.update(event.encode("utf-8", "surrogateescape") + b"\n")
        return h.hexdigest()

    def events(self) -> list[str]:
        out = [f"cmd {c.when:.6f} rc={c.rc} {c.text}" for c in self.recorder.commands]
        out += [f"step {s.index} {s.label} {s.status} {s.message}" for s in self.steps]
        return out + [f"leak {leak}" for leak in self.leaks]


class ScenarioRun:
    """What steps need: the host, the recorder, images, the HTTP server, and how to start a controller."""

    def __init__(self, scenario: Scenario, host, result: ScenarioResult, images, server, isolation: str = ""):
        self.scenario, self.host, self.result = scenario, host, result
        self.isolation = isolation
        self.recorder, self.images, self.server = result.recorder, images, server
        self.mark = 0
        self.crashed = ""       # the command at which an injected crash killed the engine
        self.ostore = None      # ObjectStoreRun when the scenario publishes images or bundles instances
        self.turns = None       # during a `concurrently` step: the schedule every engine process takes turns from
        self.nodes: dict = {}           # with several nodes: name -> host (harness.scenario.nodes)
        self.controllers: dict = {}     # name -> its node controller (None: not started)
        self.node_crashed: dict = {}    # name -> the command at which that node's engine was killed
        self.pending: list = list(scenario.steps)   # the steps still to run (a sweep's branch replaces them)

    def view(self, name: str):
        """The run as a step on node `name` sees it (the first node: the run itself)."""
        from harness.scenario.nodes import NodeView
        return self if not self.nodes or name in ("", self.first) else NodeView(self, name)

    @property
    def first(self) -> str:
        return next(iter(self.nodes), "")

    def attach(self, io) -> None:
        """An engine process started during a `concurrently` step takes its turns with the others."""
        if self.turns is None:
            return
        io.workers = self.turns
        if hasattr(io.clock, "turns"):
            io.clock.turns = self.turns

    def checkpoint(self, command: str) -> None:
        """A program that is not the engine (node_command) runs a command: under a schedule, it waits its turn."""
        if self.turns is not None:
            self.turns.checkpoint(command)

    def new_controller(self, name: str = "") -> NodeController:
        node = self.scenario.nodes[name] if name else self.scenario.node
        host = self.nodes[name] if name else self.host
        path = node.get("instances_path", "/var/lib/eucalyptus/instances")
        config = NodeConfig(instances_path=f"{path}-{self.isolation}" if self.isolation else path,
                            dm_prefix=f"euca-{self.isolation}-" if self.isolation else "euca-",
                            cache_mb=node.get("cache_mb", 20480), work_mb=node.get("work_mb", 0),
                            inject_keys=node.get("inject_keys", True),
                            concurrent_disk_ops=node.get("concurrent_disk_ops", 4),
                            hypervisor="hypervisor" in node, fast_path=node.get("fast_path", False),
                            build_workers=node.get("build_workers", 1))
        nc = NodeController(host, config, self.images, clock=clock_for(host), recorder=self.recorder,
                            seed=self.scenario.seed, log=self.result.log.append)
        self.attach(nc.io)
        return nc


def run_step(step: Step, nc: NodeController, ctx: ScenarioRun) -> NodeController:
    """One step through its kind's runner; an engine operation starts the window `expect_commands` reads. A step
    naming another node runs there, on that node's controller (started at its first step)."""
    kind = KINDS[step.kind]
    if kind.engine_operation:
        ctx.mark = len(ctx.recorder.commands)
    where = f"step {step.index} ({step.label})"
    if not ctx.nodes or step.node in ("", ctx.first):
        return kind.run(step.args, nc, ctx, where)
    from harness.scenario.nodes import controller_of
    other = controller_of(ctx, step.node, where, may_be_absent=step.kind == "restart_node")
    ctx.controllers[step.node] = kind.run(step.args, other, ctx.view(step.node), where)
    return nc


SNAPSHOT_COMMANDS = ("losetup -a", "dmsetup table", "dmsetup ls", "dmsetup info -c")


def snapshot(host) -> dict[str, str]:
    """losetup -a, dmsetup table, dmsetup ls and dmsetup info -c, inode numbers and UUIDs masked."""
    from harness.checks.compare import mask
    return {cmd: mask(host.canonical(host.run(cmd.split()).stdout)) for cmd in SNAPSHOT_COMMANDS}


def run_clock_now(host) -> float:
    return clock_for(host).now()


def run_scenario(scenario: Scenario, backend: str = "sim", then: list[str] | None = None, host=None,
                 leak_check: bool = True, on_step=None, isolation: str = "", on_run=None,
                 after_step=None, on_start=None) -> ScenarioResult:
    """`on_step(result, step)` is called before each step (progress displays); `on_run(result, step)` after
    the state snapshot taken before it, just as it starts (benchmarks time the step alone). `isolation` (e.g. an xdist
    worker id) gives the run its own instances directory and dm-name prefix, so parallel runs on one real
    node never touch each other; expectations naming `euca-` devices are read with that prefix. `after_step(result,
    step, nc)` runs after each step that passed (explore's invariants) and may fail it with a StepFailure.
    `on_start(run)` gets the ScenarioRun once the controller is up (a sweep's branches change its `pending`)."""
    import time
    wall_start = time.monotonic()
    result = ScenarioResult(scenario)
    host = host or make_host(backend, dialect=scenario.dialect, seed=scenario.seed)
    if "loops" in scenario.node:
        host.set_loop_count(scenario.node["loops"])
    if "hypervisor" in scenario.node:
        host.enable_hypervisor(scenario.node["hypervisor"].get("release_delay", 0))
    staged = StagedImages([s for s in scenario.images if not s.served])
    from harness.scenario.nodes import make_nodes
    nodes = make_nodes(scenario, host)
    nc = ostore = None
    try:
        with ImageServer([s for s in scenario.images if s.served]) as server:
            for each in (nodes or {"": host}).values():
                staged.stage(each)
            sources = {"file": staged, "url": UrlImageSource(clock_for(host))}
            if scenario.uses_store:
                from engine.images.s3source import S3ImageSource
                from harness.images.objectstore import ObjectStoreRun
                ostore = ObjectStoreRun(scenario.seed).start()
                for spec in scenario.images:
                    if spec.publish:
                        ostore.publish(host, spec)
                sources["walrus"] = S3ImageSource(ostore.registry)
            images = ImageSources(sources)
            run = result.run = ScenarioRun(scenario, host, result, images, server, isolation)
            run.ostore = ostore
            run.nodes = nodes
            nc = result.controller = run.new_controller()
            if nodes:
                run.controllers = {name: None for name in nodes}
                run.controllers[run.first] = nc
            virtual_start = run_clock_now(host)
            if on_start is not None:
                on_start(run)
            while run.pending:
                step = run.pending.pop(0)
                if on_step is not None:
                    on_step(result, step)
                first, first_issued = len(result.recorder.commands), len(result.recorder.issued)
                before = snapshot(host)
                result.snapshots[step.index] = before
                if on_run is not None:
                    on_run(result, step)
                try:
                    nc = run_step(step, nc, run)
                    if nodes and step.node in ("", run.first):
                        run.controllers[run.first] = nc
                    elif nodes:   # another node's step (a concurrent one may have restarted the first node too)
                        nc = run.controllers[run.first] or nc
                    result.controller = nc
                    if after_step is not None and not run.crashed:
                        after_step(result, step, nc)   # raises StepFailure: the run ends at this step
                except StepFailure as exc:
                    result.state_before, result.state_after = before, snapshot(host)
                    result.steps.append(StepOutcome(step.index, step.label, "failed", str(exc), exc.details,
                                                    (first, len(result.recorder.commands)),
                                                    (first_issued, len(result.recorder.issued))))
                    raise
                result.steps.append(StepOutcome(step.index, step.label, "passed", "", [],
                                                (first, len(result.recorder.commands)),
                                                (first_issued, len(result.recorder.issued))))
    except StepFailure as exc:
        result.ok, result.failure, result.details = False, str(exc), exc.details
    except StagingError as exc:
        result.ok, result.failure = False, str(exc)
    except Exception as exc:  # the object store's setup (S3, bundling, registration): one line
        if ostore is None or nc is not None:
            raise
        result.ok, result.failure = False, f"object store setup: {exc}"
    finally:
        if ostore is not None:
            ostore.stop()
    if nc is not None:
        result.snapshots[len(scenario.steps) + 1] = snapshot(host)   # the state at the end
    if host.retries:   # a real node's recorded busy retries (backends.realnode)
        result.log += host.retries
        host.retries.clear()
    result.controller = nc
    result.wall_seconds = time.monotonic() - wall_start
    if nc is not None:
        result.virtual_seconds = run_clock_now(host) - virtual_start
    done = {s.index for s in result.steps}
    result.steps += [StepOutcome(s.index, s.label, "not run") for s in scenario.steps if s.index not in done]
    if leak_check and nc is not None and result.ok:
        result.leaks = find_leaks(host, nc, scenario.leaks_allowed)
        for name, other in list(run.controllers.items())[1:] if nodes else []:
            if other is not None:
                result.leaks += [f"node {name}: {leak}" for leak in find_leaks(nodes[name], other,
                                                                               scenario.leaks_allowed)]
        if result.leaks:
            result.ok = False
            result.failure = f"leak check: {len(result.leaks)} leaked: {result.leaks[0]}"
            result.details = result.leaks
    for cmd in then or []:
        out = host.run(["bash", "-c", cmd])
        result.then_outputs.append(out.stdout + out.stderr)
    return result


__all__ = ["run_scenario", "ScenarioResult", "StepOutcome", "compare"]
