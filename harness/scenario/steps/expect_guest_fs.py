from __future__ import annotations

from engine.imager.mounts import ImageToolError
from engine.imager.resize import read_superblock
from engine.nodeio import NodeIO
from harness.scenario.registry import Field, StepFailure, safe_id, step
from harness.scenario.stepkit import guest_root


@step("expect_guest_fs", "The instance's root filesystem is `size` bytes (its superblock's block count times block "
                         "size, read with dd).",
      fields=[Field("id", str, True, "the instance", safe_id),
              Field("size", int, True, "bytes")])
def expect_guest_fs(args, nc, ctx, where):
    try:
        sb = read_superblock(NodeIO(ctx.host), guest_root(ctx.host, args["id"], where))
    except ImageToolError as exc:
        raise StepFailure(f"{where}: {exc}") from None
    if sb.size_bytes != args["size"]:
        raise StepFailure(f"{where}: {args['id']}'s root filesystem is {sb.size_bytes} bytes ({sb.kind}), "
                          f"expected {args['size']}")
    return nc
