from __future__ import annotations

import random

from engine.nodeio import NodeIO, clock_for
from harness.images.prep_tools import execute, step_parser
from harness.scenario.registry import Field, ScenarioError, step
from harness.scenario.stepkit import TOOL_EXIT, check_exit


@step("image", "An image tool on the node: `args` as after `nc-harness image` (resize, stamp, zerofree), without "
               "--backend.",
      fields=[Field("args", list, True, "the command line after `nc-harness image`"), *TOOL_EXIT])
def image(args, nc, ctx, where):
    parsed = step_parser().parse_args([str(a) for a in args["args"]])   # checked when the scenario loaded
    io = NodeIO(ctx.host, ctx.recorder, clock_for(ctx.host), ctx.result.log.append)
    rng = random.Random(f"image-{ctx.scenario.seed}")
    rc, out, err = execute(io, parsed, lambda n: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)))
    ctx.result.log.extend(line for line in out.splitlines() if line)
    check_exit(args, rc, err.strip(), where)
    return nc


@image.validate
def _check(args, sc, where):
    if "--backend" in args["args"]:
        raise ScenarioError(f"{where}: args: no --backend (the step runs on the scenario's node)")
    try:
        step_parser().parse_args([str(a) for a in args["args"]])
    except (ValueError, SystemExit) as exc:
        raise ScenarioError(f"{where}: args: {exc}") from None
    return args
