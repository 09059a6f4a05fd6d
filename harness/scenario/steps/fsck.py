from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, step
from harness.scenario.stepkit import engine_call


@step("fsck", "The running node controller's periodic check of its stores: stale blobs (missing devices, loops "
              "that hold something else, dead references, abandoned opens) go; nothing in use does.",
      fields=[Field("expect_deleted", list, False, "the blob ids it must delete, in any order")],
      engine_operation=True)
def fsck(args, nc, ctx, where):
    deleted = []
    nc = engine_call(args, nc, ctx, where, lambda: deleted.extend(nc.check_stores()))
    if "expect_deleted" in args and sorted(deleted) != sorted(map(str, args["expect_deleted"])):
        raise StepFailure(f"{where}: deleted {sorted(deleted) or 'nothing'}, expected "
                          f"{sorted(map(str, args['expect_deleted'])) or 'nothing'}")
    return nc
