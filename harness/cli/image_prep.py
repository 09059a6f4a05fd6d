"""`nc-harness image resize`, `image stamp` and `image zerofree`: an image file on a node, worked on
through loop devices and mounts over the host interface (`--backend`, default local: this machine)."""
from __future__ import annotations

import random
import sys

from harness.images.prep_tools import add_parsers, execute

__all__ = ["add_parsers", "run"]


def run(args) -> int:
    from engine.imager.mounts import ImageToolError
    from engine.imager.resize import parse_size
    from engine.nodeio import NodeIO, clock_for
    from harness.backends import make_host
    prog = f"nc-harness image {args.image_verb}"
    if args.image_verb == "resize":
        try:
            parse_size(args.size)       # a bad command line starts no node
        except ImageToolError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return 2
    try:
        host = make_host(args.backend, device_mapper=False)
    except ValueError as exc:
        print(f"{prog}: --backend {args.backend}: {exc}", file=sys.stderr)
        return 2
    rng = random.Random()
    rc, out, err = execute(NodeIO(host, clock=clock_for(host)), args,
                           lambda n: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n)))
    print(out, end="")
    print(err, end="", file=sys.stderr)
    return rc
