from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, step


@step("expect_instances", "Exactly these instances are running on the (possibly restarted) engine.",
      fields=[Field("running", list, True, "instance ids, in any order")])
def expect_instances(args, nc, ctx, where):
    running = sorted(i.id for i in nc.instances.values() if i.state == "running")
    if running != sorted(args["running"]):
        raise StepFailure(f"{where}: running instances {running}, expected {sorted(args['running'])}")
    return nc
