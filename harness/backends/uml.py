"""The `uml` and `qemu` backends: a real node (Debian 12 userland; UML's 6.1 kernel or Debian's own 6.1 kernel
under QEMU) booted once per process and reset between scenarios."""
from __future__ import annotations

import atexit

from harness.backends.realnode import RealNodeHost
from harness.nodes.qemu import QemuNode
from harness.nodes.uml import UmlNode
from hostapi import Capability, CommandResult

_NODES: dict[str, UmlNode] = {}
KINDS = {"uml": UmlNode, "qemu": QemuNode}


def shared_node(kind: str = "uml", directory: str | None = None) -> UmlNode:
    node = _NODES.get(kind)
    if node is None or node.proc is None or node.proc.poll() is not None:
        node = KINDS[kind](directory) if directory else KINDS[kind]()
        node.start()
        atexit.register(node.stop)
        _NODES[kind] = node
    else:
        node.reset()
    return node


class UmlHost(RealNodeHost):
    name = "uml"
    # a worker thread's requests run in the guest's background (harness.nodes.uml.UmlNode.run)
    capabilities = frozenset({Capability.CONCURRENT})
    # The data disk holding /disk1: UML's ubdb is 98:16 (st_dev 25104), as the simulator's default; QEMU's vdb
    # is 254:16 (65040). Expectations pin the first, so a qemu node's number is read as it (losetup -a only).
    data_dev = "25104"

    def __init__(self, directory: str | None = None):
        super().__init__()
        self.node = None                # not a simulator: no virtual clock, no fault injection
        self.real = shared_node(self.name, directory)

    def run_raw(self, argv, stdin=None):
        rc, out, err = self.real.run(list(argv), stdin)
        return CommandResult(rc, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape"))


class QemuHost(UmlHost):
    name = "qemu"
    data_dev = "65040"

    def canonical(self, text: str) -> str:
        return text.replace(f"[{self.data_dev}]:", f"[{UmlHost.data_dev}]:")
