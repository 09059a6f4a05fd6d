"""Scenario steps for image preparation: the image tools (`image: {args: [resize|stamp|zerofree, ...]}`),
registering an uploaded bundle (`register`), and the size of an instance's root filesystem
(`expect_guest_fs`). They run on the scenario's node, clock and trace like every other step."""
from __future__ import annotations

import random

from .steps import StepFailure, check_exit, guest_root


def image(args, nc, ctx, where):
    from engine.nodeio import NodeIO

    from .cli.image_prep import execute, step_parser
    from .runner import clock_for
    parsed = step_parser().parse_args([str(a) for a in args["args"]])   # checked when the scenario loaded
    io = NodeIO(ctx.host, ctx.recorder, clock_for(ctx.host), ctx.result.log.append)
    rng = random.Random(f"image-{ctx.scenario.seed}")
    rc, out, err = execute(io, parsed, lambda n: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)))
    ctx.result.log.extend(line for line in out.splitlines() if line)
    check_exit(args, rc, err.strip(), where)
    return nc


def register(args, nc, ctx, where):
    """RegisterImage for an uploaded bundle; `kernel`/`ramdisk` name images registered earlier in the scenario
    (published, bundle_instance's register_as, or an earlier `register`)."""
    ids = {}
    for key in ("kernel", "ramdisk"):
        if args.get(key):
            ids[key] = ctx.ostore.registered[args[key]].id
    from .objectstore import ObjectStoreError
    try:
        image_ = ctx.ostore.register(args["as"], args["manifest"], ids.get("kernel"), ids.get("ramdisk"))
    except ObjectStoreError as exc:
        raise StepFailure(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a store or registry refusal (no such manifest...): one line
        raise StepFailure(f"{where}: registering {args['manifest']}: {exc}") from None
    ctx.result.log.append(f"IMAGE\t{image_.id}\t{args['manifest']}\t{args['as']}")
    return nc


def expect_guest_fs(args, nc, ctx, where):
    """The instance's root filesystem (its emi work copy) is `size` bytes: its superblock's block count times
    block size, read with dd."""
    from engine.imager.mounts import ImageToolError
    from engine.imager.resize import read_superblock
    from engine.nodeio import NodeIO
    try:
        sb = read_superblock(NodeIO(ctx.host), guest_root(ctx.host, args["id"], where))
    except ImageToolError as exc:
        raise StepFailure(f"{where}: {exc}") from None
    if sb.size_bytes != args["size"]:
        raise StepFailure(f"{where}: {args['id']}'s root filesystem is {sb.size_bytes} bytes ({sb.kind}), "
                          f"expected {args['size']}")
    return nc
