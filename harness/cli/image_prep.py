"""`nc-harness image resize`, `image stamp` and `image zerofree`: an image file on a node, worked on
through loop devices and mounts over the host interface (`--backend`, default local: this machine)."""
from __future__ import annotations

import random
import sys


def add_parsers(verbs) -> None:
    rs = verbs.add_parser("resize", help="copy an ext2/3 image's tree into a new image of another size (seed 002's "
                                         "procedure, the old image untouched)")
    rs.add_argument("image", metavar="IMG", help="the image file, on the node; not attached or mounted")
    rs.add_argument("--size", required=True, help="the new size: bytes, or with K, M, G or T (powers of 1024)")
    rs.add_argument("--out", metavar="NEW", help="the new image (default: new_IMG beside IMG, as in seed 002); "
                                                 "must not exist")
    rs.add_argument("--backend", default="local", help="the node holding IMG (default local)")
    st = verbs.add_parser("stamp", help="write /etc/image-id into an ext2/3 image (the starter images' fields)")
    st.add_argument("image", metavar="IMG", help="the image file, on the node")
    st.add_argument("--name", required=True, help="image_name, e.g. euca-debian-emi")
    st.add_argument("--version", required=True, help="image_version, e.g. 2011.08.15")
    st.add_argument("--arch", required=True, help="image_arch, e.g. x86_64")
    st.add_argument("--recipe", required=True, help="recipe_name, e.g. debian-based")
    st.add_argument("--backend", default="local", help="the node holding IMG (default local)")
    zf = verbs.add_parser("zerofree", help="zero an ext2/3 image's free blocks (Debian's zerofree) and report "
                                           "the gzip size before and after")
    zf.add_argument("image", metavar="IMG", help="the image file, on the node; not mounted")
    zf.add_argument("--backend", default="local", help="the node holding IMG (default local)")


def run(args) -> int:
    from engine.imager.mounts import ImageToolError
    from engine.imager.resize import parse_size
    from engine.nodeio import NodeIO

    from ..backends import make_host
    from ..runner import clock_for
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


def execute(io, args, token) -> tuple[int, str, str]:
    """One image tool on the node behind `io`: (exit status, output, error line). The scenario step `image`
    calls this with the run's node, clock and trace."""
    from engine.imager.mounts import ImageToolError
    from engine.imager.resize import default_out, parse_size, resize
    from engine.imager.stamp import stamp
    from engine.imager.zerofree import zero_free
    from engine.nodeio import CommandError
    prog = f"nc-harness image {args.image_verb}"
    try:
        if args.image_verb == "resize":
            out = args.out or default_out(args.image)
            return 0, resize(io, args.image, parse_size(args.size), out, token).line() + "\n", ""
        if args.image_verb == "zerofree":
            before, after = zero_free(io, args.image)
            drop = 100.0 * (before - after) / before if before else 0.0
            return 0, f"{args.image}: gzip size {before} -> {after} bytes ({drop:.1f}% smaller)\n", ""
        text = stamp(io, args.image, args.name, args.version, args.arch, args.recipe, token)
    except (ImageToolError, CommandError) as exc:
        return 1, "", f"{prog}: {exc}\n"
    return 0, f"{args.image}: /etc/image-id\n{text}", ""


def step_parser():
    """The verbs a scenario's `image` step takes, parsed as the command line parses them (without --backend:
    the step runs on the scenario's node)."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise ValueError(message)
    parser = Parser(prog="image", add_help=False)
    verbs = parser.add_subparsers(dest="image_verb", required=True, parser_class=Parser)
    add_parsers(verbs)
    return parser
