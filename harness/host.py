"""The one narrow interface between the engine (or a replay) and a node: run an argv, get rc/stdout/stderr."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Host:
    """Base class of every backend. Subclasses implement `run` and nothing else is required."""

    name = "host"

    def run(self, argv: list[str], stdin: str | None = None) -> CommandResult:
        raise NotImplementedError

    def run_shell(self, line: str, stdin: str | None = None) -> CommandResult:
        """A logged command line, given to bash as one argv (never built by us from ids). bash, not sh: NC's
        popen ran /bin/sh, which is bash on the CentOS nodes the logs come from, and on Debian sh is dash,
        whose `echo -e` prints the `-e` (the real-node transcript replay showed it)."""
        return self.run(["bash", "-c", line], stdin)

    def canonical(self, text: str) -> str:
        """Output as expectations are written for it (a backend whose data disk has another device number says
        so here); the identity for every node that matches the simulator."""
        return text

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalHost(Host):
    """This machine, for real (root). Refuses to start where the kernel lacks what the engine needs; the image
    tools (resize, stamp, zerofree) need loop devices and mounts but no device-mapper: `device_mapper=False`."""

    name = "local"

    def __init__(self, check: bool = True, device_mapper: bool = True):
        if check:
            problem = self.missing_feature(device_mapper)
            if problem:
                raise ValueError(f"backend local: {problem}; use --backend uml (a real kernel of our own)")

    @staticmethod
    def missing_feature(device_mapper: bool = True) -> str:
        import os
        if os.geteuid() != 0:
            return "needs root (losetup, dmsetup, mount)"
        if device_mapper:
            if not os.path.exists("/dev/mapper/control"):
                return "this kernel has no device-mapper (/dev/mapper/control is missing; modprobe dm_mod)"
            proc = subprocess.run(["dmsetup", "version"], capture_output=True, text=True)
            if proc.returncode != 0 or "Driver version" not in proc.stdout:
                first = (proc.stderr.strip() or "no output").splitlines()[0]
                return f"dmsetup cannot reach the device-mapper driver ({first})"
        if not os.path.exists("/dev/loop-control") and not os.path.exists("/dev/loop0"):
            return "this kernel has no loop devices (modprobe loop)"
        return ""

    def run(self, argv, stdin=None):
        try:
            proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, errors="surrogateescape")
        except FileNotFoundError:   # as a shell reports it: the engine asks for busybox and falls back on 127
            return CommandResult(127, "", f"{argv[0]}: command not found\n")
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)
