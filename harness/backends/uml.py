"""The `uml` backend: a user-mode-linux node (Debian 12 userland, kernel 6.1) booted once per process and
reset between scenarios."""
from __future__ import annotations

import atexit

from ..host import CommandResult, Host
from ..node.uml import UmlNode

_NODE: UmlNode | None = None


def shared_node(directory: str | None = None) -> UmlNode:
    global _NODE
    if _NODE is None or _NODE.proc is None or _NODE.proc.poll() is not None:
        _NODE = UmlNode(directory) if directory else UmlNode()
        _NODE.start()
        atexit.register(_NODE.stop)
    else:
        _NODE.reset()
    return _NODE


class UmlHost(Host):
    name = "uml"

    def __init__(self, directory: str | None = None):
        self.node = None                # not a simulator: no virtual clock, no fault injection
        self.uml = shared_node(directory)

    def run(self, argv, stdin=None):
        rc, out, err = self.uml.run(list(argv), stdin)
        return CommandResult(rc, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape"))
