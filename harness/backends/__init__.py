"""Host backends in one table: each spec form, what it is, and how to make it. `--backend`'s help is made from
this table, so a new backend is one row here (and its module)."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from hostapi import Host


@dataclass(frozen=True)
class Backend:
    spec: str                      # as given to --backend: a name, or a prefix ending in ':' or '//'
    doc: str
    make: Callable[..., Host]      # (spec, dialect, seed, device_mapper) -> Host
    form: str = ""                 # how a prefixed spec is written in full

    def matches(self, spec: str) -> bool:
        return spec == self.spec if not self.spec.endswith((":", "//")) else spec.startswith(self.spec)


def _sim(spec, dialect, seed, device_mapper):
    from harness.backends.sim import SimHost
    return SimHost(dialect=dialect, seed=seed)


def _local(spec, dialect, seed, device_mapper):
    from harness.backends.local import LocalHost
    return LocalHost(device_mapper=device_mapper)


def _uml_or_qemu(spec, dialect, seed, device_mapper):
    from harness.backends.uml import QemuHost, UmlHost
    from harness.nodes.uml import NodeError
    try:
        return UmlHost() if spec == "uml" else QemuHost()
    except NodeError as exc:
        raise ValueError(str(exc)) from None


def _ssh(spec, dialect, seed, device_mapper):
    from harness.backends.ssh import SshHost
    return SshHost(spec, os.environ.get("NC_SSH_IDENTITY"))


def _vagrant(spec, dialect, seed, device_mapper):
    from harness.backends.vagrant import VagrantHost
    return VagrantHost(spec)


BACKENDS = (
    Backend("sim", "the in-memory simulator (default; faults, crash points, virtual clock)", _sim),
    Backend("uml", "the user-mode-linux node built by `nc-harness node build`", _uml_or_qemu),
    Backend("qemu", "the same node image under QEMU with Debian's kernel", _uml_or_qemu),
    Backend("local", "this machine, for real (root; loop and device-mapper)", _local),
    Backend("ssh://", "a node over ssh (its key from NC_SSH_IDENTITY)", _ssh, "ssh://USER@HOST[:PORT]"),
    Backend("vagrant:", "a node the shipped Vagrantfile brought up", _vagrant, "vagrant:NAME"),
)


def backend_names() -> str:
    """`sim, uml, qemu, local, ssh://USER@HOST[:PORT], vagrant:NAME`"""
    return ", ".join(b.form or b.spec for b in BACKENDS)


def backend_help(default: str = "sim") -> str:
    """The help line of every `--backend` flag."""
    return f"where commands run: {backend_names()} (default {default})"


def make_host(spec: str, dialect: str = "debian12", seed: int = 0, device_mapper: bool = True) -> Host:
    """`device_mapper=False`: the caller needs loop devices and mounts only (the image tools), so a local
    machine without device-mapper is good enough."""
    for backend in BACKENDS:
        if backend.matches(spec):
            return backend.make(spec, dialect, seed, device_mapper)
    raise ValueError(f"unknown backend '{spec}' (available: {backend_names()})")
