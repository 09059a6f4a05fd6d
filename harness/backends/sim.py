"""The simulator backend: a Node in this process, with every capability only a model can have."""
from __future__ import annotations

import threading

from hostapi import Capability, Host
from simulator.node import Node


class SimHost(Host):
    name = "sim"
    capabilities = frozenset({Capability.FAULTS, Capability.VIRTUAL_CLOCK, Capability.REBOOT,
                              Capability.DEVICE_HOLDERS, Capability.HYPERVISOR, Capability.LOOP_POOL})

    def __init__(self, dialect: str = "debian12", seed: int = 0, host_dev: tuple[int, int] | None = None,
                 clock=None, name: str = ""):
        self.node = Node(dialect=dialect, seed=seed, host_dev=host_dev, clock=clock, name=name)
        self._lock = threading.Lock()   # the simulated kernel is one machine: one command at a time
        self._processes = 0

    def process_token(self) -> str:
        """The simulated node's own process ids, counted per node: a run's lock-owner links (and so its
        recording) are the same bytes every time, whatever process the harness runs in."""
        self._processes += 1
        self.node.processes.add(1000 + self._processes)
        return f"{1000 + self._processes}.1"

    def end_process(self, token: str) -> None:
        """The engine process `token` names was killed (a crash point): the node no longer has it."""
        pid = token.split(".", 1)[0]
        if pid.isdigit():
            self.node.processes.discard(int(pid))

    def process_alive(self, pid: int) -> bool:
        """The node's init and the engine processes started on it and not killed, as `kill -0` answers."""
        return pid == 1 or pid in self.node.processes

    def run(self, argv, stdin=None):
        with self._lock:
            return self.node.run(list(argv), stdin)

    def reboot(self) -> None:
        with self._lock:
            self.node.reboot()

    def fault_table(self):
        return self.node.faults

    def virtual_clock(self):
        return self.node.clock

    def hold_device(self, path: str, seconds: int) -> None:
        self.node.hold_device(path, seconds)

    def hypervisor(self):
        return self.node.hypervisor

    def enable_hypervisor(self, release_delay: int) -> None:
        self.node.enable_hypervisor(release_delay)

    def set_loop_count(self, count: int) -> None:
        self.node.set_loop_count(count)
