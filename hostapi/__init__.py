"""The one interface between the engine (or a replay) and a node: run an argv, get rc/stdout/stderr.

Defined here once, below the engine, the simulator and the harness, so that all three use the same types:
the simulator's tools return `CommandResult`, the engine's `NodeIO` takes any `Host`, and every backend (the
simulator, a real node over UML, QEMU, ssh or Vagrant, this machine) is a `Host` subclass that implements `run`.

What only some backends can do (inject faults, run on a virtual clock, reboot, keep a device open as another
program would) is a `Capability` a host declares, with the operation on the host object itself: callers ask
`host.has(...)` or call the operation and get `Unsupported`, never probe for attributes.
"""
from __future__ import annotations

import enum
import itertools
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0


class HostError(Exception):
    """Root of the host layer's errors."""


class Unsupported(HostError):
    """An operation the backend does not have (fault injection on a real kernel, say)."""


class Capability(enum.Enum):
    FAULTS = "fault and crash injection"
    VIRTUAL_CLOCK = "a virtual clock"
    REBOOT = "reboot"
    DEVICE_HOLDERS = "devices held open by another program"
    HYPERVISOR = "the simulated hypervisor"
    LOOP_POOL = "a fixed pool of loop devices"
    CONCURRENT = "commands run at once"   # requests from several threads overlap on the node


_processes = itertools.count(1)


class Host:
    """Base class of every backend. Subclasses implement `run`; capabilities they declare, they implement."""

    name = "host"
    capabilities: frozenset[Capability] = frozenset()
    retries: list[str] | tuple = ()   # a real node's busy retries, for the run's log (harness.backends.realnode)

    def run(self, argv: list[str], stdin: str | None = None) -> CommandResult:
        raise NotImplementedError

    def run_shell(self, line: str, stdin: str | None = None) -> CommandResult:
        """A logged command line, given to bash as one argv (never built by us from ids). bash, not sh: NC's
        popen ran /bin/sh, which is bash on the CentOS nodes the logs come from, and on Debian sh is dash,
        whose `echo -e` prints the `-e` (the real-node transcript replay showed it)."""
        return self.run(["bash", "-c", line], stdin)

    def canonical(self, text: str) -> str:
        """Output as expectations are written for it (a backend whose data disk has another device number says
        so here); the identity for every node that matches the simulator."""
        return text

    def process_token(self) -> str:
        """A new engine process's identity on this node (its lock-owner links name it): `PID.N`, N counting
        the engine processes this one has started. On a real node it is this process's pid."""
        return f"{os.getpid()}.{next(_processes)}"

    def end_process(self, token: str) -> None:
        """The engine process `token` names was killed at a crash point (simulator: it leaves the node's process
        table). Nothing to do where processes are real."""

    def process_alive(self, pid: int) -> bool:
        """Does the engine process `pid` (a process_token's pid) still run? Where processes are real, it is a
        process of the machine the engine runs on: asked of its kernel."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, capability: Capability, what: str) -> None:
        if capability not in self.capabilities:
            raise Unsupported(f"{what} needs {capability.value}, which the {self.name} backend does not have "
                              "(the simulator has it)")

    # The capabilities' operations. A backend that declares one overrides its operation.
    def reboot(self) -> None:
        self.require(Capability.REBOOT, "rebooting the node")

    def fault_table(self):
        """The node's fault table (simulator.faults.FaultTable): faults and crash points to fire."""
        self.require(Capability.FAULTS, "fault injection")

    def virtual_clock(self):
        """The node's virtual clock (simulator.determinism.VirtualClock)."""
        self.require(Capability.VIRTUAL_CLOCK, "a virtual clock")

    def hold_device(self, path: str, seconds: int) -> None:
        self.require(Capability.DEVICE_HOLDERS, "holding a device open")

    def hypervisor(self):
        """The node's simulated hypervisor, or None where the scenario did not enable it."""
        self.require(Capability.HYPERVISOR, "the simulated hypervisor")

    def enable_hypervisor(self, release_delay: int) -> None:
        self.require(Capability.HYPERVISOR, "the simulated hypervisor")

    def set_loop_count(self, count: int) -> None:
        self.require(Capability.LOOP_POOL, "a fixed loop device count")

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HostWrapper(Host):
    """A host that adds something around another's commands (recording them, say) and is otherwise that host:
    its name, capabilities and their operations are the inner host's."""

    def __init__(self, inner: Host):
        self.inner = inner

    @property
    def name(self):
        return self.inner.name

    @property
    def capabilities(self):
        return self.inner.capabilities

    @property
    def retries(self):
        return self.inner.retries

    def run(self, argv, stdin=None):
        return self.inner.run(argv, stdin)

    def canonical(self, text: str) -> str:
        return self.inner.canonical(text)

    def reboot(self) -> None:
        self.inner.reboot()

    def process_token(self) -> str:
        return self.inner.process_token()

    def end_process(self, token: str) -> None:
        self.inner.end_process(token)

    def process_alive(self, pid: int) -> bool:
        return self.inner.process_alive(pid)

    def fault_table(self):
        return self.inner.fault_table()

    def virtual_clock(self):
        return self.inner.virtual_clock()

    def hold_device(self, path: str, seconds: int) -> None:
        self.inner.hold_device(path, seconds)

    def hypervisor(self):
        return self.inner.hypervisor()

    def enable_hypervisor(self, release_delay: int) -> None:
        self.inner.enable_hypervisor(release_delay)

    def set_loop_count(self, count: int) -> None:
        self.inner.set_loop_count(count)

    def close(self) -> None:
        self.inner.close()
