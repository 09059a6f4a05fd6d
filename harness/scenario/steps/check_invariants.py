from __future__ import annotations

from harness.checks.invariants import check
from harness.scenario.registry import Field, StepFailure, step


@step("check_invariants", "No leaked loop, dm device, mount or work file, and every blob's metadata agrees with the "
                          "kernel.",
      fields=[Field("terminated", list, False, "instances terminated so far: none of theirs may remain")])
def check_invariants(args, nc, ctx, where):
    problems = check(ctx.host, nc, set(args.get("terminated", [])))
    if problems:
        raise StepFailure(f"{where}: {problems[0]}", problems)
    return nc
