"""An extraction as a replayable trace: the commands in the log's order, each annotated with where the log
said it (`# (from nc.log:77)`), failures the log saw as `# (expect failure)`; helper programs the node model
does not have are named, not replayed."""
from __future__ import annotations

import shlex

from harness.nclog.extract import Extraction, Operation
from harness.replay.trace import TraceCommand
from simulator.tools import load_all

SHELL_WORDS = {"echo", "printf", "true", "false", "test", "[", "sleep", "cd"}


def modelled(program: str) -> bool:
    """Whether the simulated node has this program (by its basename, as the node's PATH would find it)."""
    return program.rsplit("/", 1)[-1] in load_all() or program in SHELL_WORDS


def _program(op: Operation) -> str:
    words = shlex.split(op.command.split(" | ")[-1]) if op.command else []
    return words[0] if words else ""


def commands(extraction: Extraction) -> tuple[list[TraceCommand], list[str]]:
    """(trace commands, notes): the notes name helpers left out, cut commands, assumptions and records that
    look like disk work but could not be mapped, each with its place in the log."""
    out: list[TraceCommand] = []
    notes: list[str] = []
    for op in extraction.operations:
        program = _program(op)
        if not modelled(program):
            name = program.rsplit("/", 1)[-1]
            if name not in extraction.helpers:
                extraction.helpers[name] = op.origin
                notes.append(f"{op.origin}: helper program '{name}' is not modelled: left out of the replay")
            continue
        if not op.replayable:
            notes.append(f"{op.origin}: {op.command.split(' | ')[-1]}: its table is not in the log: not replayed "
                         "(--complete makes a stand-in where a later command uses the device)")
            continue
        if op.truncated:
            notes.append(f"{op.origin}: command cut in the log (its buffer holds 255 characters): replayed as logged")
        if op.note:
            notes.append(f"{op.origin}: {op.note}")
        out.append(TraceCommand(len(out) + 1, op.command, op.time[11:], origin=op.origin, expect_fail=op.expect_fail))
    for rec in extraction.unmapped:
        notes.append(f"{rec.origin}: looks like disk work but maps to no command: {rec.text[:120]}")
    return out, notes


def render(cmds: list[TraceCommand], header: list[str]) -> str:
    """The trace file `nc-harness log trace` writes: readable by `nc-harness replay` as it stands."""
    lines = [f"# {h}" for h in header] + [""]
    for cmd in cmds:
        if cmd.inferred:
            lines.append("# (inferred)")
        if cmd.origin:
            lines.append(f"# (from {cmd.origin})")
        if cmd.expect_fail:
            lines.append("# (expect failure)")
        lines.append(f"{cmd.stamp} {cmd.text}" if cmd.stamp else cmd.text)
    return "\n".join(lines) + "\n"
