from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, step
from harness.scenario.stepkit import require
from hostapi import Capability


@step("restart_node", "Start a new node controller process on the node, which recovers what the old one left.",
      fields=[Field("reboot", bool, False, "power-cycle the host first: loops and dm devices gone, files kept "
                                           "(simulator only)")],
      verb="restart", engine_operation=True)
def restart_node(args, nc, ctx, where):
    if args.get("reboot"):
        require(ctx, Capability.REBOOT, where, "a reboot")
        ctx.host.reboot()
    fresh = ctx.new_controller()
    try:
        fresh.restart()
    except Exception as exc:  # noqa: BLE001 - a recovery that fails is this step's failure, not the harness's
        raise StepFailure(f"{where}: recovery failed: {exc}") from None
    ctx.crashed = ""
    return fresh


@restart_node.label_with
def _label(args):
    return "reboot" if args.get("reboot") else "restart"
