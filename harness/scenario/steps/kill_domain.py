from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, safe_id, step
from harness.scenario.stepkit import sim_hypervisor


@step("kill_domain", "The instance's domain dies (the guest crashed, QEMU exited); its disks are released after "
                     "the hypervisor's release delay (simulator only).",
      fields=[Field("id", str, True, "the instance", safe_id)], simulator_only=True)
def kill_domain(args, nc, ctx, where):
    if not sim_hypervisor(ctx, where).stop(args["id"]):
        raise StepFailure(f"{where}: no domain {args['id']} is running")
    return nc
