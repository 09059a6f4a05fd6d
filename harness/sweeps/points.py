"""Which commands of a run are sweep points: every command the engine ran that changes something, in the steps
that launch, terminate or bundle (`--all-commands`), each as a regex that finds it again in a rerun."""
from __future__ import annotations

import re

from harness.checks.compare import ids_as_wildcards

# what a crash after a read-only command leaves is what a crash after the command before it leaves
_READS = {"cat", "test", "stat", "ls", "find", "readlink", "sleep", "true"}
_RUN_STEPS = ("run_instance", "terminate_instance", "bundle_instance")


def changes_something(line: str) -> bool:
    words = line.split()
    tool = words[0].rsplit("/", 1)[-1] if words else ""
    rest = words[1:]
    if tool in _READS:
        return False
    if tool == "losetup" and (rest in (["-a"],) or (len(rest) == 1 and rest[0].startswith("/dev/")) or "-j" in rest):
        return False
    if tool == "dmsetup" and rest[:1] in (["ls"], ["table"], ["info"], ["status"], ["deps"]):
        return False
    return not (tool in ("mount", "virsh") and (not rest or rest[:1] == ["list"]))


def all_command_points(issued: list[str], steps, kinds: dict[int, str]) -> list[tuple[int, int, str, int, bool]]:
    """(k, step, pattern, nth, complete) for every command the engine ran that changes something, in the steps
    that launch, terminate or bundle; nth counts the engine's own commands only (lock tokens carry the
    process id, so they match any)."""
    out = []
    for step in steps:
        if kinds.get(step.index) not in _RUN_STEPS:
            continue
        first, last = step.issued
        saves = [j for j in range(first, last) if issued[j].endswith("/instance.xml")
                 and issued[j].split()[0] in ("tee", "install")]
        for j in range(first, last):
            if not changes_something(issued[j]):
                continue
            pattern = "^" + re.sub(r"\\ \d+\\.\d+\\ ", r"\\ [0-9]+\\.[0-9]+\\ ",
                                   ids_as_wildcards(issued[j])) + "$"
            rx = re.compile(pattern)
            nth = sum(1 for line in issued[:j + 1] if rx.search(line))
            complete = kinds[step.index] == "run_instance" and len(saves) >= 2 and j >= saves[-1]
            out.append((j + 1, step.index, pattern, nth, complete))
    return out
