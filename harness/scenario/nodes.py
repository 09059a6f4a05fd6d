"""Scenarios with several nodes (`nodes:`): one simulated kernel each, one virtual clock for all, and the
directories listed under `shared:` one filesystem every node mounts (as an NFS export would be). A step acts on
the node it names (`node: NAME`; the first node when it names none), through a view of the run whose host,
controller and crash state are that node's. A node's node controller starts at its first step."""
from __future__ import annotations

from engine.errors import OperationFailed
from harness.scenario.registry import StepFailure


def make_nodes(scenario, first_host) -> dict:
    """name -> host for a scenario with several nodes (the first is `first_host`); {} for one node."""
    if not scenario.nodes:
        return {}
    from harness.backends.sim import SimHost
    from simulator.fs.memfs import MemoryFS
    from simulator.kernel import new_encode_dev
    names = list(scenario.nodes)
    clock = first_host.virtual_clock()
    first_host.node.name = names[0]
    hosts = {names[0]: first_host}
    for k, name in enumerate(names[1:], start=1):
        settings = scenario.nodes[name]
        hosts[name] = SimHost(settings.get("dialect", "debian12"), settings.get("seed", k), clock=clock, name=name,
                              host_dev=(98, 16 + 16 * k))
    for j, path in enumerate(scenario.shared):
        # an NFS mount's anonymous device number (0:5x), one filesystem object for every node
        fs = MemoryFS(new_encode_dev(0, 50 + j), clock, first_ino=2)
        for host in hosts.values():
            host.node.share(path, fs)
    return hosts


class NodeView:
    """The run as a step on node `name` sees it."""

    def __init__(self, run, name: str):
        self._run, self.name = run, name

    def __getattr__(self, attr):
        return getattr(self._run, attr)

    @property
    def host(self):
        return self._run.nodes[self.name]

    @property
    def crashed(self) -> str:
        return self._run.node_crashed.get(self.name, "")

    @crashed.setter
    def crashed(self, value: str) -> None:
        self._run.node_crashed[self.name] = value

    @property
    def turns(self):   # one schedule for the whole run, whichever node's step started it
        return self._run.turns

    @turns.setter
    def turns(self, value) -> None:
        self._run.turns = value

    def new_controller(self):
        return self._run.new_controller(self.name)


def controller_of(run, name: str, where: str, may_be_absent: bool = False):
    """Node `name`'s node controller, started at its first use. A node that cannot start (its stores claimed
    by another node) fails the step, or gives None where the step starts the node itself (restart_node)."""
    nc = run.controllers.get(name)
    if nc is not None or may_be_absent:
        return nc
    try:
        nc = run.new_controller(name)
    except OperationFailed as exc:
        raise StepFailure(f"{where}: node {name}: {exc}") from None
    run.controllers[name] = nc
    return nc
