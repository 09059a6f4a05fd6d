"""coreutils' uname: the kernel's name and the node's host name (`-n`, what the engine tells nodes apart by).
The release, version and machine fields are not modelled, and say so."""
from __future__ import annotations

from .base import Result, tool

MODELLED = {"s": lambda node: "Linux", "n": lambda node: node.name}
LONG = {"--kernel-name": "s", "--nodename": "n"}
KNOWN = set("snrvmpioa")
LONG_KNOWN = {"--kernel-release", "--kernel-version", "--machine", "--processor", "--hardware-platform",
              "--operating-system", "--all"}


@tool("uname")
def uname(node, argv, stdin):
    wanted: list[str] = []
    for arg in argv[1:]:
        if arg in LONG:
            wanted.append(LONG[arg])
        elif arg in LONG_KNOWN or (arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) <= KNOWN
                                   and set(arg[1:]) - set(MODELLED)):
            return Result(1, "", f"uname: not modelled by the simulator: {arg}\n")
        elif arg.startswith("--") and arg != "--":
            return Result(1, "", f"uname: unrecognized option '{arg}'\nTry 'uname --help' for more information.\n")
        elif arg.startswith("-") and len(arg) > 1:
            bad = next((c for c in arg[1:] if c not in KNOWN), None)
            if bad is not None:
                return Result(1, "", f"uname: invalid option -- '{bad}'\nTry 'uname --help' for more information.\n")
            wanted.extend(arg[1:])
        else:
            return Result(1, "", f"uname: extra operand '{arg}'\nTry 'uname --help' for more information.\n")
    fields = [MODELLED[c](node) for c in "sn" if c in (wanted or ["s"])]
    return Result(0, " ".join(fields) + "\n")
