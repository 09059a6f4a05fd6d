"""A host wrapper that records every command it runs as a replayable shell line (staging, file I/O and engine
commands alike), so `nc-harness record` can hand an engine run to `nc-harness replay` on a fresh node."""
from __future__ import annotations

import shlex

from harness.replay.trace import format_transcript_entry
from hostapi import Capability, Host, HostWrapper


def shell_line(argv: list[str]) -> str:
    return shlex.join(argv)


class RecordingHost(HostWrapper):
    """The inner host, every command it runs kept as a transcript entry."""

    def __init__(self, inner: Host):
        super().__init__(inner)
        self.lines: list[str] = []
        self._last_ns: int | None = None

    def run(self, argv, stdin=None):
        clock = self.inner.virtual_clock() if self.inner.has(Capability.VIRTUAL_CLOCK) else None
        if clock is not None:
            # time the caller let pass between commands (lock waits, back-offs) becomes a `sleep`, so a
            # replay sees the same virtual instants and therefore the same file times
            gap = clock.ns - self._last_ns if self._last_ns is not None else 0
            if gap > 0:
                self.lines.append(format_transcript_entry(f"sleep {gap / 1e9:.9f}", 0, "", ""))
        result = self.inner.run(argv, stdin)
        if clock is not None:
            self._last_ns = clock.ns
        self.lines.append(format_transcript_entry(shell_line(list(argv)), result.rc, result.stdout,
                                                  result.stderr, stdin))
        return result

    def mark(self, label: str) -> None:
        """A `# (step ...)` line: a replay that diverges names the closest recorded step."""
        self.lines.append(f"# (step {label})\n\n")

    def render(self) -> str:
        """The transcript format (`$ command`, stdout, `[stderr] ` lines, `# rc=N`): replayable with --check."""
        return "".join(self.lines)
