"""Fault injection and crash points: make command k fail the way the real tool fails, or kill the caller there.

A `Fault` matches commands by a regex over the joined argv and fires on its nth match (then `times`
times in a row). `crash=True` raises `CrashPoint` instead: the program driving the node dies at that
command (before it runs, or after it with `after=True`), and nothing else it would have done happens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .tools.base import Result


class CrashPoint(BaseException):
    """Not an Exception: like SIGKILL, no `except Exception` cleanup in the caller may run."""


# How each tool reports the usual failures (util-linux 2.38 / lvm2 2.03 / e2fsprogs 1.47 wording).
REAL_ERRORS = {
    "dmsetup": "device-mapper: reload ioctl on {arg}  failed: Device or resource busy\nCommand failed.\n",
    "losetup": "losetup: {arg}: failed to set up loop device: Device or resource busy\n",
    "dd": "dd: error writing '{arg}': No space left on device\n",
    "mkfs.ext3": "mkfs.ext3: Input/output error while writing out and closing file system\n",
    "mkswap": "mkswap: {arg}: unable to write signature page: Input/output error\n",
    "tune2fs": "tune2fs: Input/output error while trying to open {arg}\n",
    "parted": "Error: Input/output error during write on {arg}\n",
    "mount": "mount: {arg}: can't read superblock on {arg}.\n",
    "cp": "cp: error writing '{arg}': No space left on device\n",
}


@dataclass
class Fault:
    match: str
    nth: int = 1
    times: int = 1
    rc: int = 1
    stderr: str | None = None
    crash: bool = False
    after: bool = False
    run_first: list[str] | None = None   # a race: another program runs this argv just before the match
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def applies(self, line: str) -> bool:
        if not re.search(self.match, line):
            return False
        self.seen += 1
        if self.seen >= self.nth and self.fired < self.times:
            self.fired += 1
            return True
        return False


class FaultPlan:
    def __init__(self, faults: list[Fault] | None = None):
        self.faults = list(faults or [])
        self.commands_seen = 0
        # called with each command's argv before any fault is looked at: a sweep branches its points there
        self.observer = None

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def before(self, argv: list[str]) -> tuple[Result | None, Fault | None]:
        """A failure result to return instead of running, or the fault whose crash (after running) or race
        (another program's command first) applies to this command."""
        self.commands_seen += 1
        line = " ".join(argv)
        for fault in self.faults:
            if fault.applies(line):
                if fault.crash and not fault.after:
                    raise CrashPoint(line)
                if fault.crash or fault.run_first:
                    return None, fault
                return Result(fault.rc, "", fault.stderr if fault.stderr is not None else real_error(argv)), None
        return None, None


# Removals fail as a held device fails (util-linux 2.38 / lvm2 2.03, real-kernel-outputs/README.md).
REAL_ERRORS_BY_VERB = {
    ("dmsetup", "remove"): "device-mapper: remove ioctl on {name}  failed: Device or resource busy\nCommand failed.\n",
    ("losetup", "-d"): "losetup: {arg}: detach failed: Device or resource busy\n",
    # util-linux 2.38 warn()s with errno appended; with no loop-control the kernel's answer is ENODEV
    ("losetup", "-f"): "losetup: cannot find an unused loop device: No such device\n",
    # libvirt 9.0: another API call holds the domain's job lock past its 30 s wait (a busy qemu monitor)
    ("virsh", "destroy"): "error: Failed to destroy domain '{name}'\nerror: Timed out during operation: cannot "
                          "acquire state change lock (held by monitor=remoteDispatchDomainBlockStats)\n",
}


def real_error(argv: list[str]) -> str:
    tool = argv[0].rsplit("/", 1)[-1] if argv else ""
    template = REAL_ERRORS_BY_VERB.get((tool, argv[1] if len(argv) > 1 else ""))
    if template is None:
        template = REAL_ERRORS.get(tool, f"{tool}: Input/output error\n")
    arg = next((a for a in reversed(argv[1:]) if a.startswith("/")), argv[-1] if argv else "")
    if tool == "dd":
        arg = next((a[3:] for a in argv[1:] if a.startswith("of=")), arg)
    return template.format(arg=arg, name=argv[-1] if argv else "")
