from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, safe_id, step
from harness.scenario.stepkit import linked_device, sim_hypervisor


@step("start_domain", "The simulated hypervisor starts the instance's domain, which holds its disk (link-to-sda) "
                      "open (simulator only; `node: hypervisor: {}`).",
      fields=[Field("id", str, True, "the instance", safe_id)], simulator_only=True)
def start_domain(args, nc, ctx, where):
    hv = sim_hypervisor(ctx, where)
    inst = nc.instances.get(args["id"])
    if inst is None or inst.state != "running":
        raise StepFailure(f"{where}: no running instance {args['id']} on this node")
    disk = linked_device(nc, ctx, inst, "sda", where)
    try:
        hv.start(inst.id, [disk])
    except Exception as exc:  # noqa: BLE001 - already running, or no disk
        raise StepFailure(f"{where}: {exc}") from None
    return nc
