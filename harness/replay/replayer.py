"""Replaying a trace on a host: stop (or go on) at failures, run --then commands, check expectations."""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.checks.compare import first_difference, mask  # mask is part of this module's API
from harness.replay.trace import TraceCommand, format_transcript_entry
from hostapi import Host


@dataclass
class Failure:
    lineno: int
    command: str
    rc: int
    stderr: str
    reason: str = "failed"
    step: str = ""
    follows: int = 0     # the line of an earlier failure this one follows from (it names what that one made)
    origin: str = ""     # where a log said it (`nc.log:77`), named beside the trace's own line

    def describe(self, name: str) -> str:
        detail = self.stderr.strip().replace("\n", " | ")
        where = f" [during {self.step}]" if self.step else ""
        after = f" [follows from line {self.follows}]" if self.follows else ""

        command = "\n    ".join(self.command.splitlines())   # a continued command whole, not its first line
        place = self.origin or f"{name}:{self.lineno}"   # a command from a log: the log's own line
        return f"{place}{where}{after}: {self.reason} (rc={self.rc}): {command}" + (
            f": {detail}" if detail else "")


PROGRAM_DIRS = ("/sbin/", "/bin/", "/usr/")   # a program's path is not something an earlier command made


def _names(text: str) -> set[str]:
    """What a command names that a later one may depend on: paths, devices and dm names."""
    words = {w.strip("'\";,()") for w in text.split()}
    return {w for w in words if len(w) > 4 and (w.startswith("/") or w.count("-") >= 2)
            and not w.startswith(PROGRAM_DIRS)}


def _follows(failure: Failure, earlier: list[Failure]) -> int:
    """The line of the latest earlier failure whose command named something this one uses: a device it was
    to attach or create, a file it was to write. 0 when it stands on its own."""
    text = failure.command + "\n" + failure.stderr
    for before in reversed(earlier):
        if any(name in text for name in _names(before.command)):
            return before.lineno
    return 0


@dataclass
class ReplayOutcome:
    executed: int = 0
    failures: list[Failure] = field(default_factory=list)
    then_outputs: list[str] = field(default_factory=list)
    # (command, rc, stdout, stderr, stdin) per command run, formatted only when the transcript is asked for
    entries: list[tuple] = field(default_factory=list)

    @property
    def transcript(self) -> list[str]:
        return [format_transcript_entry(*entry) for entry in self.entries]


def replay(host: Host, commands: list[TraceCommand], keep_going: bool = False, check: bool = False,
           then: list[str] | None = None) -> ReplayOutcome:
    outcome = ReplayOutcome()
    for cmd in commands:
        result = host.run_shell(cmd.text, cmd.stdin)
        outcome.executed += 1
        outcome.entries.append((cmd.text, result.rc, result.stdout, result.stderr, cmd.stdin))
        reason = None
        if check and cmd.expected is not None:
            exp = cmd.expected
            if result.rc != exp.rc:
                reason = f"exit status {result.rc}, expected {exp.rc}"
            elif mask(result.stdout) != mask(exp.stdout_text):
                reason = "stdout differs: " + _first_difference(exp.stdout_text, result.stdout)
            elif mask(result.stderr) != mask(exp.stderr_text):
                reason = "stderr differs: " + _first_difference(exp.stderr_text, result.stderr)
        elif cmd.expect_fail:
            reason = "succeeded, but the log saw it fail" if result.rc == 0 else None
        elif result.rc != 0 and not (cmd.expected is not None and cmd.expected.rc == result.rc):
            reason = "failed"
        if reason:
            failure = Failure(cmd.lineno, cmd.text, result.rc, result.stderr, reason, cmd.step, origin=cmd.origin)
            failure.follows = _follows(failure, outcome.failures)
            outcome.failures.append(failure)
            if not keep_going:
                return outcome
    for line in then or []:
        result = host.run_shell(line)
        outcome.then_outputs.append(result.stdout)
        outcome.entries.append((line, result.rc, result.stdout, result.stderr, None))
    return outcome


def _first_difference(expected: str, actual: str) -> str:
    return first_difference(mask(expected), mask(actual), end="<missing>")
