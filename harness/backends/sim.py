"""The simulator backend: a Node in this process."""
from __future__ import annotations

import threading

from simulator.node import Node

from ..host import CommandResult, Host


class SimHost(Host):
    name = "sim"

    def __init__(self, dialect: str = "debian12", seed: int = 0, host_dev: tuple[int, int] | None = None):
        self.node = Node(dialect=dialect, seed=seed, host_dev=host_dev)
        self._lock = threading.Lock()   # the simulated kernel is one machine: one command at a time

    def reboot(self) -> None:
        with self._lock:
            self.node.reboot()

    def run(self, argv, stdin=None):
        with self._lock:
            result = self.node.run(list(argv), stdin)
        return CommandResult(result.rc, result.stdout, result.stderr)
