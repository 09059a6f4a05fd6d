"""procps' kill, as far as a node's engine processes need it: `kill -0 PID` asks whether a process lives (a lock
whose owner died is free again, as an fcntl lock is), `kill [-9|-KILL|-TERM] PID` ends one. The node knows its
init (pid 1) and the engine processes the harness started on it (harness.backends.sim); other pids are gone."""
from __future__ import annotations

from .base import Result, tool

SIGNALS = {"-0": 0, "-9": 9, "-KILL": 9, "-SIGKILL": 9, "-15": 15, "-TERM": 15, "-SIGTERM": 15}


@tool("kill")
def kill(node, argv, stdin):
    args = argv[1:]
    signal = 15
    if args and args[0].startswith("-") and args[0] != "--":
        if args[0] not in SIGNALS:
            return Result(1, "", f"{argv[0]}: not modelled by the simulator: {args[0]}\n")
        signal, args = SIGNALS[args[0]], args[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        return Result(1, "", f"\nUsage:\n {argv[0]} [options] <pid> [...]\n")
    rc, err = 0, ""
    for arg in args:
        if not arg.lstrip("-").isdigit():
            return Result(1, "", err + f"{argv[0]}: failed to parse argument: '{arg}'\n")
        pid = int(arg)
        if pid != 1 and pid not in node.processes:
            rc, err = 1, err + f"{argv[0]}: ({pid}): No such process\n"
        elif signal and pid != 1:
            node.processes.discard(pid)
    return Result(rc, "", err)
