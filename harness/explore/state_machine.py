"""Stateful exploration of the engine on the simulator (hypothesis RuleBasedStateMachine).

Rules: run, terminate, restart the node process, reboot the host, fill the cache, inject a fault into
the next run. Invariants (`harness.checks.invariants`) hold after every step. Every rule also appends the YAML
step that reproduces it, so a failing (shrunk) run is printed and saved as a scenario that
`nc-harness run` replays, ending in a `check_invariants` step that fails the same way.
"""
from __future__ import annotations

import os

import yaml
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.errors import OperationFailed
from harness.backends.sim import SimHost
from harness.checks.invariants import check
from harness.errors import HarnessError
from harness.images.staging import ImageSpec, StagedImages
from harness.scenario import parse
from harness.scenario.runner import ScenarioResult, ScenarioRun
from harness.scenario.steps import KINDS

MB = 2**20
USER = "u"
NODE = {"dialect": "debian12", "seed": 0, "instances_path": "/var/lib/eucalyptus/instances", "cache_mb": 12}
IMAGES = [ImageSpec("eki-0000000A", 8192, "pattern"), ImageSpec("emi-0000000B", 2 * MB, "ext2"),
          ImageSpec("emi-0000000C", 2 * MB, "ext2"), ImageSpec("emi-0000000D", 6 * MB, "zeros")]
FAULTS = [r"^/bin/cp /var/lib/nc-harness/images/emi", r"^/bin/dd if=", r"dmsetup create .*-p0-snap$",
          r"^/sbin/mkfs.ext3", r"^/sbin/mkswap", r"mkpart primary", r"^mount ", r"^/sbin/losetup -o 0"]


def vbr_lines(emi: str, swap: bool) -> list[str]:
    out = ["kernel:eki-0000000A:-1:none:none:staged", f"machine:{emi}:-1:none:sda1:staged",
           "ephemeral0:none:1048576:ext3:sda2:none"]
    return out + (["swap:none:1048576:swap:sda3:none"] if swap else [])


def scenario_doc(steps: list[dict], name: str = "explored") -> dict:
    return {"name": name, "description": "found by nc-harness explore (hypothesis state machine)", "node": dict(NODE),
            "images": [{"id": i.id, "size": i.size, "content": i.content} for i in IMAGES], "steps": steps}


class NodeMachine(RuleBasedStateMachine):
    """One simulated node per example; `last_steps` holds the steps of the latest (finally: shrunk) example."""

    last_steps: list[dict] = []

    def __init__(self):
        super().__init__()
        self.steps: list[dict] = []
        NodeMachine.last_steps = self.steps
        self.scenario = parse(yaml.safe_dump(scenario_doc([KINDS["check_invariants"]()])), "<explore>")
        self.host = SimHost(dialect="debian12", seed=0)
        staged = StagedImages(IMAGES)
        staged.stage(self.host)
        self.run_ctx = ScenarioRun(self.scenario, self.host, ScenarioResult(self.scenario), staged, None)
        self.nc = self.run_ctx.new_controller()
        self.running: list[str] = []
        self.terminated: set[str] = set()
        self.counter = 0

    def _run(self, emi: str, swap: bool, key: bool) -> None:
        self.counter += 1
        inst = f"i-{self.counter:04d}"
        step = {"id": inst, "user": USER, "vbrs": vbr_lines(emi, swap)}
        if key:
            step["key"] = "ssh-rsa AAAAexplore"
        vbrs = [v for v in self.scenario_vbrs(step["vbrs"])]
        try:
            self.nc.run_instance(inst, USER, vbrs, step.get("key"))
            self.running.append(inst)
        except OperationFailed as exc:
            step["expect_error"] = _stable_part(str(exc))
            self.terminated.add(inst)
        self.steps.append(KINDS["run_instance"](**step))

    def scenario_vbrs(self, lines):
        doc = scenario_doc([KINDS["run_instance"](id="i-x", user=USER, vbrs=lines)])
        return parse(yaml.safe_dump(doc), "<explore>").steps[0].args["vbrs"]

    @rule(emi=st.sampled_from(["emi-0000000B", "emi-0000000C"]), swap=st.booleans(), key=st.booleans())
    def run(self, emi, swap, key):
        self._run(emi, swap, key)

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def terminate(self, data):
        inst = data.draw(st.sampled_from(self.running))
        self.steps.append(KINDS["terminate_instance"](id=inst))
        self.nc.terminate_instance(inst)
        self.running.remove(inst)
        self.terminated.add(inst)

    @rule()
    def restart_node(self):
        self.steps.append(KINDS["restart_node"]())
        self.nc = self.run_ctx.new_controller()
        self.nc.restart()

    @rule()
    def reboot_host(self):
        self.steps.append(KINDS["restart_node"](reboot=True))
        self.host.reboot()
        self.nc = self.run_ctx.new_controller()
        self.nc.restart()
        self.terminated.update(self.running)   # nothing survives a power cycle
        self.running = []

    @rule()
    def fill_cache(self):
        """A big image that needs LRU purging or the work store."""
        self._run("emi-0000000D", False, False)

    @rule(pattern=st.sampled_from(FAULTS), nth=st.integers(1, 3))
    def inject_fault(self, pattern, nth):
        from simulator.faults import Fault
        self.host.fault_table().faults.clear()
        self.host.fault_table().add(Fault(pattern, nth=nth))
        self.steps.append(KINDS["inject_fault"](match=pattern, nth=nth))

    @invariant()
    def node_is_consistent(self):
        problems = check(self.host, self.nc, self.terminated)
        assert not problems, "; ".join(problems)


def _stable_part(message: str) -> str:
    """The part of an engine error that does not depend on loop numbers or temp names."""
    return message.split(":", 1)[0]


def save_regression(steps: list[dict], directory: str, name: str) -> str:
    os.makedirs(directory, exist_ok=True)
    doc = scenario_doc(list(steps) + [KINDS["check_invariants"]()], name)
    path = os.path.join(directory, f"{name}.yaml")
    with open(path, "w") as fh:
        fh.write("# Found and shrunk by the hypothesis state machine (harness/explore/state_machine.py); replay with\n")
        fh.write(f"# `nc-harness run {path}`.\n")
        yaml.safe_dump(doc, fh, sort_keys=False, width=1000)
    return path


class ExplorationFailed(HarnessError):
    def __init__(self, message: str, path: str, steps: list[dict]):
        super().__init__(message)
        self.path, self.steps = path, steps


def explore(examples: int = 200, steps: int = 30, seed: int = 0, save_dir: str = "scenarios/regressions",
            name: str | None = None, out=None) -> int:
    """Run the state machine; on a failure print the shrunk run as a YAML scenario, save it, and raise."""
    import hypothesis.core
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test
    cfg = settings(max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck), derandomize=False, print_blob=False,
                   report_multiple_bugs=False)
    # hypothesis draws its examples from this seed (what its pytest plugin's --hypothesis-seed sets): the same
    # seed, the same examples; Python's own `random` is not what hypothesis draws from
    forced = hypothesis.core.global_force_seed
    hypothesis.core.global_force_seed = seed
    try:
        run_state_machine_as_test(NodeMachine, settings=cfg)
    except Exception as exc:  # any failure of the machine is the finding
        shrunk = list(NodeMachine.last_steps)
        path = save_regression(shrunk, save_dir, name or f"explored-seed{seed}")
        if out is not None:
            out.write(open(path).read())
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExplorationFailed(f"{len(shrunk)} steps: {first}", path, shrunk) from exc
    finally:
        hypothesis.core.global_force_seed = forced
    return examples
