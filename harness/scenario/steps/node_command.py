from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, argv, step


@step("node_command", "Another program on the node (not the engine, not in its trace) runs a command: foreign "
                      "loops, a racing process.",
      fields=[Field("argv", list, True, "the command, as an argv list (never a shell line)", argv),
              Field("stdin", str, False, "its standard input"),
              Field("expect_rc", int, False, "its exit status (default 0)")])
def node_command(args, nc, ctx, where):
    ctx.checkpoint(" ".join(map(str, args["argv"])))
    result = ctx.host.run([str(a) for a in args["argv"]], args.get("stdin"))
    if result.rc != args.get("expect_rc", 0):
        raise StepFailure(f"{where}: {' '.join(map(str, args['argv']))}: exit {result.rc}, expected "
                          f"{args.get('expect_rc', 0)}: {(result.stderr or result.stdout).strip()[:200]}")
    return nc
