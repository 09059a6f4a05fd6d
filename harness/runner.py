"""Run a scenario's steps on a backend and compare the node's state with the expected listings."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.controller import EngineError, NodeConfig, NodeController
from engine.nodeio import Clock, Recorder, VirtualClockAdapter

from .backends import make_host
from engine.sources import ImageSources, UrlImageSource

from .http_images import ImageServer
from .images import StagedImages, StagingError
from .compare import first_difference, mask
from .scenario import Scenario, Step



@dataclass
class ScenarioResult:
    scenario: Scenario
    ok: bool = True
    failure: str = ""
    recorder: Recorder = field(default_factory=Recorder)
    then_outputs: list[str] = field(default_factory=list)
    steps_run: int = 0
    mark: int = 0          # first command of the latest engine step
    server: object = None

    def line(self) -> str:
        n = len(self.recorder.commands)
        if self.ok:
            return f"PASS {self.scenario.name} ({self.steps_run} steps, {n} commands)"
        return f"FAIL {self.scenario.name}: {self.failure}"


class StepFailure(Exception):
    pass


def make_controller(scenario: Scenario, host, recorder: Recorder, images) -> NodeController:
    node = scenario.node
    config = NodeConfig(instances_path=node.get("instances_path", "/var/lib/eucalyptus/instances"),
                        cache_mb=node.get("cache_mb", 20480), work_mb=node.get("work_mb", 0),
                        inject_keys=node.get("inject_keys", True),
                        concurrent_disk_ops=node.get("concurrent_disk_ops", 4))
    return NodeController(host, config, images, clock=clock_for(host), recorder=recorder, seed=scenario.seed)


def clock_for(host) -> Clock:
    sim_node = getattr(host, "node", None)
    return VirtualClockAdapter(sim_node.clock) if sim_node is not None else Clock()


def run_scenario(scenario: Scenario, backend: str = "sim", then: list[str] | None = None,
                 host=None) -> ScenarioResult:
    result = ScenarioResult(scenario)
    host = host or make_host(backend, dialect=scenario.dialect, seed=scenario.seed)
    staged = StagedImages([s for s in scenario.images if not s.served])
    try:
        with ImageServer([s for s in scenario.images if s.served]) as server:
            staged.stage(host)
            images = ImageSources({"file": staged, "url": UrlImageSource(clock_for(host))})
            result.server = server
            nc = make_controller(scenario, host, result.recorder, images)
            for step in scenario.steps:
                nc = _run_step(step, nc, host, result, images)
                result.steps_run += 1
    except StepFailure as exc:
        result.ok, result.failure = False, str(exc)
    except StagingError as exc:
        result.ok, result.failure = False, str(exc)
    for cmd in then or []:
        out = host.run(["sh", "-c", cmd])
        result.then_outputs.append(out.stdout + out.stderr)
    return result


def _run_step(step: Step, nc: NodeController, host, result: ScenarioResult, images) -> NodeController:
    where = f"step {step.index} ({step.label})"
    args = step.args
    if step.kind in ("run_instance", "terminate_instance", "restart_node"):
        result.mark = len(result.recorder.commands)
    if step.kind in ("run_instance", "terminate_instance"):
        try:
            if step.kind == "run_instance":
                nc.run_instance(args["id"], args["user"], [_fresh(v, result.server) for v in args["vbrs"]],
                                args.get("key"),
                                args.get("pinned"))
            else:
                nc.terminate_instance(args["id"])
        except EngineError as exc:
            if "expect_error" in args and args["expect_error"] in str(exc):
                return nc
            raise StepFailure(f"{where}: {exc}") from None
        if "expect_error" in args:
            raise StepFailure(f"{where}: succeeded, expected an error containing '{args['expect_error']}'")
        return nc
    if step.kind == "restart_node":
        if args.get("reboot"):
            reboot = getattr(host, "reboot", None)
            if reboot is None:
                raise StepFailure(f"{where}: this backend cannot reboot")
            reboot()
        fresh = make_controller(result.scenario, host, result.recorder, images)
        fresh.restart()
        return fresh
    if step.kind == "expect":
        for command in ("losetup -a", "dmsetup table", "dmsetup ls"):
            if command in args:
                actual = host.run(command.split()).stdout
                diff = compare(args[command], actual, args.get("match", "exact"), args.get("ignore", []))
                if diff:
                    raise StepFailure(f"{where}: {command}: {diff}")
        return nc
    if step.kind == "expect_files":
        base = nc.config.instances_path.rstrip("/")
        for path in args.get("present", []):
            if host.run(["test", "-e", path.replace("{instances}", base)]).rc != 0:
                raise StepFailure(f"{where}: missing file {path}")
        for path in args.get("absent", []):
            if host.run(["test", "-e", path.replace("{instances}", base)]).rc == 0:
                raise StepFailure(f"{where}: file should not exist: {path}")
        for path, text in (args.get("contains") or {}).items():
            out = host.run(["cat", path.replace("{instances}", base)])
            if out.rc != 0 or out.stdout != text:
                raise StepFailure(f"{where}: {path}: content differs (got {out.stdout[:60]!r})")
        return nc
    if step.kind == "expect_commands":
        issued = [c.text for c in result.recorder.commands[result.mark:]]
        for pattern in args.get("present", []):
            if not any(re.search(pattern, c) for c in issued):
                raise StepFailure(f"{where}: no command matches '{pattern}'")
        for pattern in args.get("absent", []):
            hit = next((c for c in issued if re.search(pattern, c)), None)
            if hit:
                raise StepFailure(f"{where}: unexpected command matching '{pattern}': {hit}")
        for pattern, n in (args.get("count") or {}).items():
            got = sum(bool(re.search(pattern, c)) for c in issued)
            if got != n:
                raise StepFailure(f"{where}: {got} commands match '{pattern}', expected {n}")
        return nc
    raise StepFailure(f"{where}: unknown step")


def _fresh(vbr, server):
    import copy
    vbr = copy.deepcopy(vbr)
    if server is not None:
        vbr.location = server.url(vbr.location)
    return vbr


def compare(expected: str, actual: str, match: str = "exact", ignore: list[str] | None = None) -> str:
    """'' when equal; else the first difference in words."""
    ignore = ignore or []
    exp, act = mask(expected, tuple(ignore)), mask(actual, tuple(ignore))
    if match == "lines":
        exp_lines = [line.rstrip() for line in exp.splitlines() if line.strip()]
        act_lines = [line.rstrip() for line in act.splitlines() if line.strip()]
        missing = sorted(set(exp_lines) - set(act_lines))
        extra = sorted(set(act_lines) - set(exp_lines))
        if missing:
            return f"missing line '{missing[0]}'" + (f" ({len(missing)} missing, {len(extra)} extra)")
        if extra:
            return f"unexpected line '{extra[0]}' ({len(extra)} extra)"
        if len(exp_lines) != len(act_lines):
            return f"{len(act_lines)} lines, expected {len(exp_lines)}"
        return ""
    return "" if exp == act else first_difference(exp, act)


__all__ = ["run_scenario", "ScenarioResult", "compare", "mask"]
