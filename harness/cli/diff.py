"""`nc-harness diff A B`: two saved states (directories of losetup-a.txt, dmsetup-table.txt, dmsetup-ls.txt) or
two traces (their commands, compared as the engine's NC-format records are)."""
from __future__ import annotations

import difflib
import os
import sys

from harness.checks import state
from harness.replay.trace import TraceError, parse_trace, read_text


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="compare two saved node states or two traces")
    p.add_argument("a", metavar="A",
                   help="the first: a state file (losetup -a / dmsetup table text) or a recorded trace")
    p.add_argument("b", metavar="B", help="the second, of the same kind")
    p.add_argument("--ignore", action="append", default=[], choices=["inodes"], help="fields to leave out")
    p.set_defaults(run=run)


def run(args) -> int:
    for path in (args.a, args.b):
        if not os.path.exists(path):
            print(f"nc-harness diff: {path}: no such file or directory", file=sys.stderr)
            return 2
    both_dirs = os.path.isdir(args.a) and os.path.isdir(args.b)
    try:
        if both_dirs:
            lines = state.diff(state.load(args.a), state.load(args.b), tuple(args.ignore))
        elif os.path.isfile(args.a) and os.path.isfile(args.b):
            lines = _trace_diff(args.a, args.b)
        else:
            print(f"nc-harness diff: {args.a} and {args.b} must both be state directories or both trace files",
                  file=sys.stderr)
            return 2
    except (state.StateError, TraceError) as exc:
        print(f"nc-harness diff: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 1 if lines else 0


def _trace_diff(a: str, b: str) -> list[str]:
    """Commands only (timestamps and temp names aside); the first divergence says where both traces were."""
    import re
    norm = lambda t: re.sub(r"/tmp/euca-(mount|temp)-\w{6}", r"/tmp/euca-\1-X", " ".join(t.split()))  # noqa: E731
    ca, cb = parse_trace(read_text(a), a), parse_trace(read_text(b), b)
    ta, tb = [norm(c.text) for c in ca], [norm(c.text) for c in cb]
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ta, b=tb, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        where = f"{a}:{ca[i1].lineno if i1 < len(ca) else 'end'} / {b}:{cb[j1].lineno if j1 < len(cb) else 'end'}"
        after = f" (after: {ta[i1 - 1]})" if i1 > 0 else " (at the start)"
        out.append(f"{where}: {tag}{after}")
        out += [f"- {t}" for t in ta[i1:i2]] + [f"+ {t}" for t in tb[j1:j2]]
    return out
