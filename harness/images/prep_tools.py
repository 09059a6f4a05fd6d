"""The image preparation tools (resize, stamp, zerofree) as both `nc-harness image ...` and the scenario step
`image` parse and run them: one parser, one executor, on the node behind a NodeIO."""
from __future__ import annotations

import argparse

from harness.backends import backend_help

NODE_HELP = backend_help("local").replace("where commands run", "the node holding IMG")


def add_parsers(verbs) -> None:
    rs = verbs.add_parser("resize", help="copy an ext2/3 image's tree into a new image of another size (seed 002's "
                                         "procedure, the old image untouched)")
    rs.add_argument("image", metavar="IMG", help="the image file, on the node; not attached or mounted")
    rs.add_argument("--size", required=True, help="the new size: bytes, or with K, M, G or T (powers of 1024)")
    rs.add_argument("--out", metavar="NEW", help="the new image (default: new_IMG beside IMG, as in seed 002); "
                                                 "must not exist")
    rs.add_argument("--backend", default="local", help=NODE_HELP)
    st = verbs.add_parser("stamp", help="write /etc/image-id into an ext2/3 image (the starter images' fields)")
    st.add_argument("image", metavar="IMG", help="the image file, on the node")
    st.add_argument("--name", required=True, help="image_name, e.g. euca-debian-emi")
    st.add_argument("--version", required=True, help="image_version, e.g. 2011.08.15")
    st.add_argument("--arch", required=True, help="image_arch, e.g. x86_64")
    st.add_argument("--recipe", required=True, help="recipe_name, e.g. debian-based")
    st.add_argument("--backend", default="local", help=NODE_HELP)
    zf = verbs.add_parser("zerofree", help="zero an ext2/3 image's free blocks (Debian's zerofree) and report "
                                           "the gzip size before and after")
    zf.add_argument("image", metavar="IMG", help="the image file, on the node; not mounted")
    zf.add_argument("--backend", default="local", help=NODE_HELP)


def execute(io, args, token) -> tuple[int, str, str]:
    """One image tool on the node behind `io`: (exit status, output, error line). The scenario step `image`
    calls this with the run's node, clock and trace."""
    from engine.errors import CommandError
    from engine.imager.mounts import ImageToolError
    from engine.imager.resize import default_out, parse_size, resize
    from engine.imager.stamp import stamp
    from engine.imager.zerofree import zero_free
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
    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise ValueError(message)
    parser = Parser(prog="image", add_help=False)
    verbs = parser.add_subparsers(dest="image_verb", required=True, parser_class=Parser)
    add_parsers(verbs)
    return parser
