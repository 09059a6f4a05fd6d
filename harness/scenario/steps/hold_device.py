from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, safe_id, step
from harness.scenario.stepkit import linked_device, require
from hostapi import Capability


@step("hold_device", "Another program (a hypervisor) keeps an instance's device open for a while (simulator only).",
      fields=[Field("id", str, True, "the instance", safe_id),
              Field("link", str, True, "the device, by the instance's `link-to-<link>` (e.g. sda)"),
              Field("seconds", int, True, "how long, in virtual seconds")],
      simulator_only=True)
def hold_device(args, nc, ctx, where):
    require(ctx, Capability.DEVICE_HOLDERS, where, "holding a device open")
    inst = nc.instances.get(args["id"])
    if inst is None:
        raise StepFailure(f"{where}: no instance {args['id']} on this node")
    target = linked_device(nc, ctx, inst, args["link"], where)
    try:
        ctx.host.hold_device(target, args["seconds"])
    except Exception as exc:  # noqa: BLE001 - FsError: not a block device
        raise StepFailure(f"{where}: {target}: cannot hold it open: {exc}") from None
    return nc
