from __future__ import annotations

from engine.errors import RecoveredWithProblems
from harness.scenario.registry import Field, StepFailure, step
from harness.scenario.stepkit import require
from hostapi import Capability
from simulator.faults import CrashPoint


@step("restart_node", "Start a new node controller process on the node, which recovers what the old one left.",
      fields=[Field("reboot", bool, False, "power-cycle the host first: loops and dm devices gone, files kept "
                                           "(simulator only)"),
              Field("expect_error", str, False, "the new node controller must refuse to start, or its recovery "
                                                "fail, with an error containing this (the old one stays; one that "
                                                "recovered with something left, such as a domain that would "
                                                "not stop, serves)")],
      verb="restart", engine_operation=True)
def restart_node(args, nc, ctx, where):
    if args.get("reboot"):
        require(ctx, Capability.REBOOT, where, "a reboot")
        ctx.host.reboot()
    fresh = None
    try:
        fresh = ctx.new_controller()
        fresh.restart()
    except CrashPoint as exc:        # the new engine killed during its own recovery: the next restart recovers
        ctx.crashed = str(exc) or "a crash point"
        return fresh or nc
    except RecoveredWithProblems as exc:     # recovered and serving, with something left for a terminate
        ctx.crashed = ""
        if "expect_error" in args and args["expect_error"] in str(exc):
            return fresh
        raise StepFailure(f"{where}: recovery failed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a recovery that fails is this step's failure, not the harness's
        if "expect_error" in args and args["expect_error"] in str(exc):
            return nc
        raise StepFailure(f"{where}: recovery failed: {exc}") from None
    if "expect_error" in args:
        raise StepFailure(f"{where}: started, expected an error containing '{args['expect_error']}'")
    ctx.crashed = ""
    return fresh


@restart_node.label_with
def _label(args):
    return "reboot" if args.get("reboot") else "restart"
