"""virsh list --name / domstate / destroy over the simulated hypervisor (libvirt 9.0 texts, checked on this
machine's virsh: names then a blank line; "Domain 'NAME' destroyed" and a blank line)."""
from __future__ import annotations

from .base import Abort, Result, not_found, tool


@tool("virsh")
def virsh(node, argv, stdin):
    if node.hypervisor is None:      # a node without libvirt
        return not_found(argv[0])
    args = list(argv[1:])
    while args and args[0] in ("-c", "--connect", "-q", "--quiet"):
        args = args[2:] if args[0] in ("-c", "--connect") else args[1:]
    if not args:
        raise Abort("error: no command given\n")
    verb, rest = args[0], args[1:]
    hv = node.hypervisor
    if verb == "list":
        if "--name" not in rest:
            raise Abort("error: only 'list --name' is simulated\n")
        return Result(0, "".join(f"{name}\n" for name in sorted(hv.domains)) + "\n")
    if verb in ("domstate", "destroy"):
        if len(rest) != 1:
            raise Abort(f"error: command '{verb}' requires <domain> option\n")
        name = rest[0]
        if name not in hv.domains:
            raise Abort(f"error: failed to get domain '{name}'\n")
        if verb == "domstate":
            return Result(0, "running\n\n")
        hv.stop(name, node.hypervisor_release_delay)
        return Result(0, f"Domain '{name}' destroyed\n\n")
    raise Abort(f"error: unknown command: '{verb}'\n")
