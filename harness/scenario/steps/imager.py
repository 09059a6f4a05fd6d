from __future__ import annotations

from engine.imager.grammar import ImagerUsage
from engine.imager.run import HelpRequested, Imager
from engine.nodeio import clock_for
from harness.scenario.registry import Field, ProcessDown, ScenarioError, step
from harness.scenario.stepkit import TOOL_EXIT, check_exit
from harness.scenario.vbrs import resolve_vbr
from simulator.faults import CrashPoint


@step("imager", "euca-imager's command line on the node, on the run's images, clock and trace; `vbr=...:staged` "
                "names a scenario image.",
      fields=[Field("args", list, True, "the imager's command-line tokens"), *TOOL_EXIT],
      uses_store=lambda args: "bundle" in args["args"])
def imager(args, nc, ctx, where):
    if ctx.crashed:
        raise ProcessDown(f"{where}: the node's programs are down (killed at '{ctx.crashed}'); add a restart_node step")
    ostore = ctx.ostore
    tool = Imager(ctx.host, ctx.images, clock=clock_for(ctx.host), recorder=ctx.recorder,
                  log=ctx.result.log.append, seed=ctx.scenario.seed,
                  fast_path=ctx.scenario.node.get("fast_path", False),
                  store=ostore.store if ostore else None, bundle_spec=ostore.spec() if ostore else None)
    ctx.attach(tool.io)
    try:
        rc = tool.main(args["args"])
    except CrashPoint as exc:        # the imager killed mid-run: it leaves what a SIGKILL leaves
        ctx.crashed = str(exc) or "a crash point"
        return nc
    ctx.result.log.extend(line for line in tool.output.splitlines() if line)
    check_exit(args, rc, "; ".join(tool.errors), where)
    return nc


@imager.validate
def _check(args, sc, where):
    """Tokens as strings, staged VBRs resolved; a command line expected to work is checked now."""
    tokens = []
    for j, token in enumerate(args["args"]):
        if not isinstance(token, str):
            raise ScenarioError(f"{where}: args[{j}]: a string (one command-line token)")
        key, eq, value = token.partition("=")
        if eq and key.lstrip("-") == "vbr" and value.endswith(":staged"):
            token = f"{key}={resolve_vbr(value, sc, f'{where}: args[{j}]').ascii}"
        tokens.append(token)
    if args.get("expect_rc", 0) == 0:
        try:
            Imager(None, None).check(tokens)
        except HelpRequested:
            pass
        except ImagerUsage as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    return dict(args, args=tokens)
