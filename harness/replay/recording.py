"""A host wrapper that records every command it runs as a replayable shell line (staging, file I/O and engine
commands alike), so `nc-harness record` can hand an engine run to `nc-harness replay` on a fresh node."""
from __future__ import annotations

import shlex

from harness.replay.trace import format_transcript_entry
from hostapi import Host


def shell_line(argv: list[str]) -> str:
    return shlex.join(argv)


class RecordingHost(Host):
    def __init__(self, inner: Host):
        self.inner = inner
        self.name = f"recording({inner.name})"
        self.lines: list[str] = []
        self._last_ns: int | None = None

    def __getattr__(self, name):          # node, reboot ... of the wrapped backend
        return getattr(self.inner, name)

    def run(self, argv, stdin=None):
        node = getattr(self.inner, "node", None)
        if node is not None:
            # time the caller let pass between commands (lock waits, back-offs) becomes a `sleep`, so a
            # replay sees the same virtual instants and therefore the same file times
            gap = node.clock.ns - self._last_ns if self._last_ns is not None else 0
            if gap > 0:
                self.lines.append(format_transcript_entry(f"sleep {gap / 1e9:.9f}", 0, "", ""))
        result = self.inner.run(argv, stdin)
        if node is not None:
            self._last_ns = node.clock.ns
        self.lines.append(format_transcript_entry(shell_line(list(argv)), result.rc, result.stdout,
                                                  result.stderr, stdin))
        return result

    def canonical(self, text: str) -> str:
        return self.inner.canonical(text)

    def mark(self, label: str) -> None:
        """A `# (step ...)` line: a replay that diverges names the closest recorded step."""
        self.lines.append(f"# (step {label})\n\n")

    def render(self) -> str:
        """The transcript format (`$ command`, stdout, `[stderr] ` lines, `# rc=N`): replayable with --check."""
        return "".join(self.lines)
