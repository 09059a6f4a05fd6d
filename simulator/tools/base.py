"""What every simulated tool module uses: the result type, `Abort`, and the `tool` registry decorator."""
from __future__ import annotations

from hostapi import CommandResult
from simulator.errors import SimulatorError

# a tool's outcome is the host interface's own result type: the simulator answers `Host.run` with it as is
Result = CommandResult


class Abort(SimulatorError):
    """A tool gives up: its message goes to stderr and it exits with `rc`."""

    def __init__(self, stderr: str, rc: int = 1, stdout: str = ""):
        super().__init__(stderr)
        self.stderr = stderr
        self.rc = rc
        self.stdout = stdout


TOOLS: dict = {}


def not_found(name: str) -> Result:
    """What bash says of a program that is not installed."""
    return Result(127, "", f"bash: line 1: {name}: command not found\n")


def tool(*names, table: dict | None = None):
    """Registers a handler under each name, in TOOLS or in `table` (a multi-call binary's own applets)."""
    table = TOOLS if table is None else table

    def register(fn):
        for name in names:
            table[name] = fn
        return fn
    return register
