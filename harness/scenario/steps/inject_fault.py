from __future__ import annotations

from harness.scenario.registry import Field, argv, regex, step
from harness.scenario.stepkit import require
from hostapi import Capability
from simulator.faults import Fault


@step("inject_fault", "Make the nth command matching `match` fail as the real tool fails, or kill the engine "
                      "there (simulator only).",
      fields=[Field("match", str, True, "a regex over the command line, in the trace's format", regex),
              Field("nth", int, False, "which matching command (default 1)"),
              Field("times", int, False, "how many matching commands in a row fail (default 1)"),
              Field("crash", bool, False, "kill the engine instead of failing the command"),
              Field("after", bool, False, "with `crash`: the command runs, the engine dies after it"),
              Field("run_first", list, False, "an argv another program runs just before the command", argv)],
      verb="fault", simulator_only=True)
def inject_fault(args, nc, ctx, where):
    require(ctx, Capability.FAULTS, where, "fault injection")
    ctx.host.fault_table().add(Fault(args["match"], nth=args.get("nth", 1), times=args.get("times", 1),
                                     crash=args.get("crash", False), after=args.get("after", False),
                                     run_first=args.get("run_first")))
    return nc
