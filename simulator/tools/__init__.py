"""Command-line tools of the simulated node, one module per tool; `TOOLS` maps a basename to its handler."""
from __future__ import annotations

from hostapi import CommandResult


# a tool's outcome is the host interface's own result type: the simulator answers `Host.run` with it as is
Result = CommandResult


class Abort(Exception):
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


def load_all() -> dict:
    from . import (busybox, coreutils, cp, dd, dmsetup, fileutils, grub, kpartx, losetup, mkfs, mount,  # noqa: F401
                   parted, tune2fs, virsh, zerofree)
    return TOOLS
