from __future__ import annotations

from harness.scenario.registry import Field, safe_id, step
from harness.scenario.stepkit import engine_call


@step("terminate_instance", "Terminate an instance through the engine: its devices, loops and work files go.",
      fields=[Field("id", str, True, "the instance id", safe_id),
              Field("expect_error", str, False, "the terminate must fail with an error containing this")],
      verb="terminate", engine_operation=True)
def terminate_instance(args, nc, ctx, where):
    return engine_call(args, nc, ctx, where, lambda: nc.terminate_instance(args["id"]))
