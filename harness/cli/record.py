"""`nc-harness record SCENARIO -o TRACE`: an engine run as a self-contained, replayable transcript: every command
the run caused (image staging, the engine's file I/O and its NC commands) with its output and exit status, so
`nc-harness replay TRACE --check` reproduces it command by command on a fresh node."""
from __future__ import annotations

import sys

import yaml

from harness.backends import backend_help, make_host
from harness.replay.recording import RecordingHost
from harness.scenario import ScenarioError, load
from harness.scenario.runner import run_scenario


def add_parser(sub) -> None:
    p = sub.add_parser("record", help="run a scenario and write every command it caused as a replayable trace")
    p.add_argument("scenario", metavar="SCENARIO", help="the scenario file to run and record")
    p.add_argument("-o", "--output", required=True, metavar="TRACE", help="trace file to write")
    p.add_argument("--backend", default="sim",
                   help=backend_help() + "; recording on a real node gives fixtures the simulator must match")
    p.add_argument("--expect-out", metavar="FILE",
                   help="also write the final `losetup -a` / `dmsetup table` as an expectation file for "
                        "`nc-harness replay --expect` (default: TRACE with .expect.yaml)")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        scenario = load(args.scenario)
    except ScenarioError as exc:
        print(f"nc-harness record: {exc}", file=sys.stderr)
        return 2
    try:
        inner = make_host(args.backend, dialect=scenario.dialect, seed=scenario.seed)
    except ValueError as exc:
        print(f"nc-harness record: {exc}", file=sys.stderr)
        return 2
    host = RecordingHost(inner)
    result = run_scenario(scenario, host=host,
                          on_step=lambda _result, step: host.mark(f"{step.index}: {step.label}"))
    print(result.line())
    final = {cmd: inner.run(cmd.split()).stdout for cmd in ("losetup -a", "dmsetup table")}
    expect_out = args.expect_out or (args.output[:-4] if args.output.endswith(".log") else args.output) \
        + ".expect.yaml"
    try:
        with open(args.output, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(f"# recorded from {args.scenario} on {args.backend} (seed {scenario.seed}, "
                     f"dialect {scenario.dialect})\n")
            fh.write(host.render())
        with open(expect_out, "w") as fh:
            yaml.safe_dump({"dialect": scenario.dialect,
                            "then": [{"command": "losetup -a", "ignore": ["inodes"], "stdout": final["losetup -a"]},
                                     {"command": "dmsetup table", "stdout": final["dmsetup table"]}]},
                           fh, sort_keys=False, default_style=None, width=1000)
    except OSError as exc:
        print(f"nc-harness record: cannot write: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    return 0 if result.ok else 1
