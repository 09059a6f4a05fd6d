"""`nc-harness log trace|scenario|compare`: a real nc.log as a replayable trace, as a scenario, or beside the
engine's own operations."""
from __future__ import annotations

import os
import sys

import yaml

from harness.replay.trace import TraceError


def add_parser(sub) -> None:
    p = sub.add_parser("log", help="reproduce a field bug from a real nc.log: a trace, a scenario, a comparison")
    verbs = p.add_subparsers(dest="log_verb", required=True)
    tr = verbs.add_parser("trace", help="the node commands an nc.log shows, as a trace `nc-harness replay` runs")
    tr.add_argument("logs", nargs="+", metavar="NCLOG", help="nc.log files (rotated and gzip'd ones too)")
    tr.add_argument("-o", "--output", metavar="FILE", help="write the trace here (default: standard output)")
    tr.add_argument("--complete", action="store_true", help="also write what the excerpt assumes existed before "
                                                            "it, as `# (inferred)` commands")
    sc = verbs.add_parser("scenario", help="a scenario making the engine do what an nc.log shows (INFO is enough)")
    sc.add_argument("logs", nargs="+", metavar="NCLOG", help="nc.log files (rotated and gzip'd ones too)")
    sc.add_argument("-o", "--output", metavar="FILE.yaml", required=True, help="the scenario file to write")
    cmp_ = verbs.add_parser("compare", help="the field's operations beside the engine's: the first divergence")
    cmp_.add_argument("logs", nargs=1, metavar="NCLOG", help="the field's nc.log")
    cmp_.add_argument("target", metavar="TARGET", help="a scenario (run on the simulator) or a recorded trace")
    for v in (tr, sc, cmp_):
        v.add_argument("--instance", metavar="ID", default="", help="only the records of this instance")
        v.add_argument("--since", metavar="TIME", default="", help="records from this time on")
        v.add_argument("--until", metavar="TIME", default="", help="records up to this time")
    p.set_defaults(run=run)


def run(args) -> int:
    prog = f"nc-harness log {args.log_verb}"
    from harness.replay.sources import load
    try:
        loaded = load(args.logs, args.instance, args.since, args.until)
        if loaded.kind != "nc.log":
            raise TraceError(f"{args.logs[0]}: not an nc.log (a {loaded.kind}: give it to `nc-harness replay`)")
        return {"trace": _trace, "scenario": _scenario, "compare": _compare}[args.log_verb](args, loaded, prog)
    except (TraceError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2


def _write(path: str | None, text: str, prog: str) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ValueError(f"{path}: cannot write: {exc.strerror}") from None
    print(f"{prog}: wrote {path}", file=sys.stderr)


def _trace(args, loaded, prog) -> int:
    from harness.nclog.trace import render
    commands, notes = loaded.commands, list(loaded.notes)
    if args.complete:
        from harness.replay.complete import complete
        done = complete(commands, loaded.hints)
        commands, notes = done.commands, notes + [f"assumed: {n}" for n in done.notes]
    header = [f"from {', '.join(args.logs)} by nc-harness log trace: {loaded.counts}"]
    header += notes
    _write(args.output, render(commands, header), prog)
    return 0


def _scenario(args, loaded, prog) -> int:
    from harness.nclog.extract import select
    from harness.nclog.records import read_logs
    from harness.nclog.scenario import build
    from harness.scenario import ScenarioError, parse
    records = select(read_logs(args.logs), args.instance, args.since, args.until)
    name = os.path.splitext(os.path.basename(args.output))[0]
    doc, header = build(records, name, ", ".join(args.logs), args.instance)
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(doc, sort_keys=False, width=1000)
    try:
        parse(text, args.output)      # what it writes always loads
    except ScenarioError as exc:
        raise ValueError(f"the scenario made from the log does not load: {exc}") from None
    _write(args.output, text, prog)
    return 0


def _compare(args, loaded, prog) -> int:
    from harness.nclog.compare import first_divergence, operations
    target = _target_commands(args.target)
    field = operations(loaded.commands, args.logs[0])
    engine = operations(target, args.target, own_lines=True)
    verdict = first_divergence(field, engine)
    if verdict:
        print(f"{prog}: {verdict}")
        return 1
    print(f"{prog}: the same {len(field)} operations in the same order")
    return 0


def _target_commands(path: str):
    """A scenario's engine commands (run on the simulator) or a trace's."""
    from harness.replay.trace import parse_trace, read_text
    if path.endswith((".yaml", ".yml")):
        from harness.scenario import ScenarioError
        from harness.scenario import load as load_scenario
        from harness.scenario.runner import run_scenario
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            raise ValueError(str(exc)) from None
        result = run_scenario(scenario)
        return parse_trace(result.recorder.render(), path)
    return parse_trace(read_text(path), path)
