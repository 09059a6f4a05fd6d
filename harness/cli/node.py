"""`nc-harness node build|up|run|down`: the project's own real node (Debian 12 userland; user-mode-linux's 6.1
kernel, or Debian's own under QEMU). A running node is driven and stopped through its run directory and PID,
whatever its kind."""
from __future__ import annotations

import os
import sys


def add_parser(sub) -> None:
    from harness.nodes.build import DEFAULT_DIR
    p = sub.add_parser("node", help="build, boot, drive and stop a real node (user-mode-linux or QEMU)")
    verbs = p.add_subparsers(dest="node_verb", required=True)
    for name, helptext in (("build", "build the node image from Debian packages (root; about 2 minutes)"),
                           ("up", "boot a node and leave it running; prints its run directory"),
                           ("run", "run one command on a running node: nc-harness node run -- CMD ARGS..."),
                           ("down", "stop a running node (by its PID)")):
        v = verbs.add_parser(name, help=helptext)
        v.add_argument("--dir", default=DEFAULT_DIR, help=f"node image directory (default {DEFAULT_DIR})")
        if name == "up":
            v.add_argument("--kind", choices=("uml", "qemu"), default="uml",
                           help="user-mode-linux (default, ~6 s) or QEMU TCG microvm with Debian's kernel (~10 s)")
        if name == "build":
            v.add_argument("--box", action="store_true",
                           help="also pack the image as a Vagrant libvirt box and add it as nc-harness-node")
        if name in ("run", "down"):
            v.add_argument("--node", help="run directory printed by `node up` (default: the latest)")
        if name == "run":
            v.add_argument("argv", nargs="+", metavar="CMD", help="the command and its arguments (an argv)")
    p.set_defaults(run=run)


def _current(args) -> str:
    if args.node:
        return args.node
    try:
        return open(os.path.join(args.dir, "current")).read().strip()
    except OSError:
        raise SystemExit("nc-harness node: no running node recorded; start one with `nc-harness node up`") from None


def run(args) -> int:
    from harness.nodes.build import BuildError, build
    from harness.nodes.uml import NodeError, UmlNode
    try:
        if args.node_verb == "build":
            build(args.dir, box=args.box)
            print(args.dir)
            return 0
        if args.node_verb == "up":
            from harness.nodes.qemu import QemuNode
            node = (QemuNode if args.kind == "qemu" else UmlNode)(args.dir).start()
            with open(os.path.join(args.dir, "current"), "w") as fh:
                fh.write(node.run_dir + "\n")
            print(f"{node.run_dir} (pid {node.pid})")
            node.detach()
            return 0
        node = UmlNode.attach(_current(args), args.dir)
        if args.node_verb == "run":
            rc, out, err = node.run(args.argv)
            node.detach()
            sys.stdout.buffer.write(out)
            sys.stderr.buffer.write(err)
            return rc
        run_dir = node.run_dir
        node.stop()
        current = os.path.join(args.dir, "current")
        if os.path.exists(current) and open(current).read().strip() == run_dir:
            os.unlink(current)
        return 0
    except (BuildError, NodeError) as exc:
        print(f"nc-harness node: {exc}", file=sys.stderr)
        return 1
