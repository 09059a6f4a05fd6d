"""`nc-harness replay TRACE`: run a logged trace (or a transcript) on a backend."""
from __future__ import annotations

import sys

from harness.backends import backend_help, make_host
from harness.replay.replayer import replay
from harness.replay.trace import TraceError, parse_trace, read_text


def add_parser(sub) -> None:
    p = sub.add_parser("replay", help="replay a logged command trace on the simulator or a node")
    p.add_argument("trace", help="trace file: NC log lines, bare commands, or a '$ command' transcript")
    p.add_argument("--dialect", default=None, choices=["debian12", "el6"],
                   help="the node's tools: debian12 or el6 (CentOS 6); default: the --expect file's, else debian12")
    p.add_argument("--backend", default="sim", help=backend_help())
    p.add_argument("--seed", type=int, default=0, help="the simulated node's RNG seed (default 0)")
    p.add_argument("--then", action="append", default=[], metavar="CMD",
                   help="run after the trace; its stdout is printed (repeatable, in order)")
    p.add_argument("--keep-going", action="store_true", help="report every failing command and go on")
    p.add_argument("--check", action="store_true",
                   help="compare each command's stdout/stderr/rc with a transcript's recorded ones")
    p.add_argument("--transcript", metavar="FILE", help="write every command with its output and rc")
    p.add_argument("--expect", metavar="FILE",
                   help="an expectation file: its `then` commands run after the trace and must print what it says")
    p.add_argument("--write-expect", metavar="FILE",
                   help="write the --then commands and what they printed as an expectation file")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        commands = parse_trace(read_text(args.trace), args.trace)
        if not commands:
            raise TraceError(f"{args.trace}: no command to replay (only blank lines and comments)")
    except TraceError as exc:
        print(f"nc-harness replay: {exc}", file=sys.stderr)
        return 2
    expectation = None
    if args.expect:
        from harness.replay.expectations import ExpectationError, load
        try:
            expectation = load(args.expect)
        except ExpectationError as exc:
            print(f"nc-harness replay: {exc}", file=sys.stderr)
            return 2
        args.then = args.then + [t.command for t in expectation.then]
    # the dialect written in the expectation file, as the pytest plugin reads it; --dialect overrides it
    args.dialect = args.dialect or (expectation.dialect if expectation else "debian12")
    try:
        host = make_host(args.backend, dialect=args.dialect, seed=args.seed)
    except ValueError as exc:
        print(f"nc-harness replay: {exc}", file=sys.stderr)
        return 2
    with host:
        outcome = replay(host, commands, keep_going=args.keep_going, check=args.check, then=args.then)
    own = outcome.then_outputs[:len(outcome.then_outputs) - (len(expectation.then) if expectation else 0)]
    for output in own:
        sys.stdout.write(output)
    if args.write_expect:
        import yaml
        try:
            with open(args.write_expect, "w") as fh:
                yaml.safe_dump({"dialect": args.dialect, "then": [{"command": c, "stdout": o} for c, o in
                                                                  zip(args.then, outcome.then_outputs)]},
                               fh, sort_keys=False, width=1000)
        except OSError as exc:
            print(f"nc-harness replay: {args.write_expect}: cannot write: {exc.strerror}", file=sys.stderr)
            return 2
    if args.transcript:
        try:
            with open(args.transcript, "w") as fh:
                fh.write("".join(outcome.transcript))
        except OSError as exc:
            print(f"nc-harness replay: {args.transcript}: cannot write: {exc.strerror}", file=sys.stderr)
            return 2
    for failure in outcome.failures:
        print(failure.describe(args.trace), file=sys.stderr)
    if outcome.failures:
        return 1
    if expectation is not None:
        from harness.replay.expectations import check
        problems = check(expectation, outcome.then_outputs[len(own):])
        for problem in problems:
            print(f"nc-harness replay: {args.expect}: {problem}", file=sys.stderr)
        if problems:
            return 1
    return 0
