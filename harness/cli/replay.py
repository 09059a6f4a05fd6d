"""`nc-harness replay FILE`: run a logged trace, a real nc.log or a document's commands on a backend."""
from __future__ import annotations

import sys

from harness.backends import backend_help, make_host
from harness.replay.replayer import replay
from harness.replay.trace import TraceError


def add_parser(sub) -> None:
    p = sub.add_parser("replay", help="replay a trace, an nc.log or a document's commands on the simulator or a node")
    p.add_argument("trace", help="a trace (NC log lines, bare commands, or a '$ command' transcript), a real nc.log "
                                 "(any NC 1.6-4.4 format, gzip'd or grep'd), or a Markdown document with commands")
    p.add_argument("more_logs", nargs="*", metavar="NCLOG",
                   help="more nc.log files read with the first: a rotated set, in any order (nc.log.1.gz nc.log)")
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
    p.add_argument("--complete", action="store_true",
                   help="first create what the trace assumes existed before it (files and their sizes, directories, "
                        "filesystems, euca-zero, loops and dm devices it uses but does not make); the inferred "
                        "commands are printed on stderr")
    p.add_argument("--instance", metavar="ID", default="", help="an nc.log: only the records of this instance")
    p.add_argument("--since", metavar="TIME", default="", help="an nc.log: records from this time on "
                                                              "('2013-06-11 08:52:14' or '08:52')")
    p.add_argument("--until", metavar="TIME", default="", help="an nc.log: records up to this time")
    p.set_defaults(run=run)


def _fail(message: str) -> int:
    print(f"nc-harness replay: {message}", file=sys.stderr)
    return 2


def run(args) -> int:
    from harness.replay.sources import load
    try:
        loaded = load([args.trace, *args.more_logs], args.instance, args.since, args.until)
        if not loaded.commands:
            raise TraceError(f"{args.trace}: no command to replay (only blank lines and comments)"
                             + (f"; {loaded.counts}" if loaded.counts else ""))
    except TraceError as exc:
        return _fail(str(exc))
    if loaded.counts:
        print(f"nc-harness replay: {args.trace}: {loaded.counts}", file=sys.stderr)
    for note in loaded.notes:
        print(f"nc-harness replay: {note}", file=sys.stderr)
    commands = loaded.commands
    if args.complete:
        from harness.replay.complete import complete
        done = complete(commands, loaded.hints)
        commands = done.commands
        print(f"# inferred: {len(done.inferred)} command(s) create what {args.trace} assumes", file=sys.stderr)
        for cmd in done.inferred:
            print(f"# inferred{f' for {cmd.origin}' if cmd.origin else ''}: {cmd.text}", file=sys.stderr)
        for note in done.notes:
            print(f"# assumed: {note}", file=sys.stderr)
    expectation = None
    if args.expect:
        from harness.replay.expectations import ExpectationError
        from harness.replay.expectations import load as load_expectation
        try:
            expectation = load_expectation(args.expect)
        except ExpectationError as exc:
            return _fail(str(exc))
        args.then = args.then + [t.command for t in expectation.then]
    # the dialect written in the expectation file, as the pytest plugin reads it; --dialect overrides it
    args.dialect = args.dialect or (expectation.dialect if expectation else "debian12")
    if expectation is not None and expectation.complete and not args.complete:
        print("nc-harness replay: the expectation file says 'complete: true': use --complete", file=sys.stderr)
    try:
        host = make_host(args.backend, dialect=args.dialect, seed=args.seed)
    except ValueError as exc:
        return _fail(str(exc))
    with host:
        if loaded.document is not None:
            outcome, problems = _replay_document(host, loaded.document, commands, args)
        else:
            outcome, problems = replay(host, commands, keep_going=args.keep_going, check=args.check,
                                       then=args.then), []
    return _report(args, outcome, problems, expectation)


def _replay_document(host, doc, commands, args):
    """The document's commands, its listings checked where it shows them (inferred commands kept in place)."""
    from harness.replay.document import check_listing, unshown
    from harness.replay.replayer import ReplayOutcome
    skipped = unshown(doc)
    for note in skipped.values():
        print(f"nc-harness replay: {args.trace}: {note}", file=sys.stderr)
    outcome, problems = ReplayOutcome(), []
    own = [c for c in commands if not c.inferred]
    position = 0
    for listing in doc.listings + [None]:
        upto = len(own) if listing is None else listing.after
        cut = commands.index(own[upto]) if upto < len(own) else len(commands)
        part = replay(host, commands[position:cut], keep_going=args.keep_going,
                      then=args.then if listing is None else [])
        position = cut
        outcome.executed += part.executed
        outcome.failures += part.failures
        outcome.entries += part.entries
        outcome.then_outputs += part.then_outputs
        if part.failures and not args.keep_going:
            break
        if listing is not None and listing.lineno not in skipped:
            problem = check_listing(listing, host.run_shell(listing.run).stdout)
            if problem:
                problems.append(f"{args.trace}:{listing.lineno}: '# {listing.command}': {problem}")
    return outcome, problems


def _report(args, outcome, problems, expectation) -> int:
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
            return _fail(f"{args.write_expect}: cannot write: {exc.strerror}")
    if args.transcript:
        try:
            with open(args.transcript, "w") as fh:
                fh.write("".join(outcome.transcript))
        except OSError as exc:
            return _fail(f"{args.transcript}: cannot write: {exc.strerror}")
    for failure in outcome.failures:
        print(failure.describe(args.trace), file=sys.stderr)
    for problem in problems:
        print(f"nc-harness replay: {problem}", file=sys.stderr)
    if outcome.failures or problems:
        return 1
    if expectation is not None:
        from harness.replay.expectations import check
        found = check(expectation, outcome.then_outputs[len(own):])
        for problem in found:
            print(f"nc-harness replay: {args.expect}: {problem}", file=sys.stderr)
        if found:
            return 1
    return 0
