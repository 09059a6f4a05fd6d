"""A hypervisor beside the simulated kernel: running domains hold their disks open, as QEMU does, and vanish
on a host reboot. The node controller sees it only through `virsh` (tools/virsh.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

HOLDER = "qemu-system-x86"


@dataclass
class Domain:
    name: str
    disks: list = field(default_factory=list)      # block devices held open while it runs


class Hypervisor:
    def __init__(self, node):
        self.node = node
        self.domains: dict[str, Domain] = {}

    def start(self, name: str, disk_paths: list[str]) -> Domain:
        if name in self.domains:
            raise ValueError(f"domain {name} is already running")
        disks = [self.node.kernel.device_at(p) for p in disk_paths]
        for dev in disks:
            dev.hold(HOLDER)
        self.domains[name] = Domain(name, disks)
        return self.domains[name]

    def stop(self, name: str, release_after: float = 0.0) -> bool:
        """Destroyed or crashed: gone from the list at once; its disks are closed now or `release_after` seconds
        later (QEMU still exiting after libvirt reported the domain shut off, field bug E9)."""
        dom = self.domains.pop(name, None)
        if dom is None:
            return False
        for dev in dom.disks:
            self.node.release(dev, HOLDER, after=release_after)
        return True

    def reboot(self) -> None:
        self.domains.clear()
