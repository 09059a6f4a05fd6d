"""Host backends, selected by name: `sim`, `uml`, `qemu`, `local`, `ssh://user@host[:port]`, `vagrant:NAME`."""
from __future__ import annotations

from ..host import Host, LocalHost


def make_host(spec: str, dialect: str = "debian12", seed: int = 0, device_mapper: bool = True) -> Host:
    """`device_mapper=False`: the caller needs loop devices and mounts only (the image tools), so a local
    machine without device-mapper is good enough."""
    if spec == "sim":
        from .sim import SimHost
        return SimHost(dialect=dialect, seed=seed)
    if spec == "local":
        return LocalHost(device_mapper=device_mapper)
    if spec in ("uml", "qemu"):
        from ..node.uml import NodeError
        from .uml import QemuHost, UmlHost
        try:
            return UmlHost() if spec == "uml" else QemuHost()
        except NodeError as exc:
            raise ValueError(str(exc)) from None
    if spec.startswith("ssh://"):
        import os
        from .ssh import SshHost
        return SshHost(spec, os.environ.get("NC_SSH_IDENTITY"))
    if spec.startswith("vagrant:"):
        from .vagrant import VagrantHost
        return VagrantHost(spec)
    raise ValueError(f"unknown backend '{spec}' (available: sim, uml, qemu, local, ssh://user@host[:port], vagrant:NAME)")
