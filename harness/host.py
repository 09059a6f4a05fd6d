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

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalHost(Host):
    """This machine, for real (root). Used only where the kernel has what a command needs."""

    name = "local"

    def run(self, argv, stdin=None):
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, errors="surrogateescape")
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)
