from __future__ import annotations

import re

from harness.scenario.registry import (
    Field,
    ScenarioError,
    StepFailure,
    regex_list,
    step,
)
from harness.scenario.stepkit import isolate


def _counts(value: dict, where: str, name: str) -> None:
    """Each count a whole number of commands, its key a regex: checked at load, not when the step runs."""
    regex_list(list(value), where, name)
    for pattern, n in value.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ScenarioError(f"{where}: {name}['{pattern}']: {n!r} is not a count (a whole number, 0 or more)")


@step("expect_commands", "Regexes over the commands the engine issued since the latest run/terminate/restart step "
                         "(NC 3.3's exact commands: left out on the fast path).",
      fields=[Field("present", list, False, "each matches some command", regex_list),
              Field("absent", list, False, "none matches any command", regex_list),
              Field("count", dict, False, "regex: how many commands match it", _counts),
              Field("order", list, False, "each regex's first match comes after the previous one's", regex_list)],
      names_nc_commands=True)
def expect_commands(args, nc, ctx, where):
    issued = [c.text for c in ctx.recorder.commands[ctx.mark:]]
    args = {"present": [isolate(p, ctx) for p in args.get("present", [])],
            "absent": [isolate(p, ctx) for p in args.get("absent", [])],
            "count": {isolate(p, ctx): n for p, n in (args.get("count") or {}).items()},
            "order": [isolate(p, ctx) for p in args.get("order", [])]}
    for pattern in args["present"]:
        if not any(re.search(pattern, c) for c in issued):
            raise StepFailure(f"{where}: no command matches '{pattern}'")
    for pattern in args["absent"]:
        hit = next((c for c in issued if re.search(pattern, c)), None)
        if hit:
            raise StepFailure(f"{where}: unexpected command matching '{pattern}': {hit}")
    position = -1
    for pattern in args["order"]:
        hit = next((i for i, c in enumerate(issued) if i > position and re.search(pattern, c)), None)
        if hit is None:
            after = f" after command {position + 1}" if position >= 0 else ""
            raise StepFailure(f"{where}: order: no command matches '{pattern}'{after}")
        position = hit
    for pattern, n in args["count"].items():
        got = sum(bool(re.search(pattern, c)) for c in issued)
        if got != n:
            raise StepFailure(f"{where}: {got} commands match '{pattern}', expected {n}")
    return nc
