from __future__ import annotations

from harness.checks import state as node_state
from harness.checks.compare import compare
from harness.scenario.registry import Field, ScenarioError, StepFailure, step
from harness.scenario.stepkit import device_diff, isolate

LISTINGS = ("losetup -a", "dmsetup table", "dmsetup ls")


@step("expect", "The node's `losetup -a`, `dmsetup table` and/or `dmsetup ls` read as written (the oracle).",
      fields=[Field("losetup -a", str, False, "the expected listing"),
              Field("dmsetup table", str, False, "the expected listing"),
              Field("dmsetup ls", str, False, "the expected listing"),
              Field("match", str, False, "exact (default), lines (any order) or contains (these lines at least)",
                    choices=("exact", "lines", "contains")),
              Field("ignore", list, False, "what may differ: inodes, uuids, ids (blob-id suffixes)")])
def expect(args, nc, ctx, where):
    ignore = tuple(args.get("ignore", []))
    args = {k: isolate(v, ctx) if k in node_state.STATE_FILES else v for k, v in args.items()}
    actual_outputs = {cmd: ctx.host.canonical(ctx.host.run(cmd.split()).stdout) for cmd in node_state.STATE_FILES}
    for command in LISTINGS:
        if command not in args:
            continue
        problem = compare(args[command], actual_outputs[command], args.get("match", "exact"), list(ignore))
        if not problem:
            continue
        details = device_diff(command, args[command], actual_outputs, ignore)
        raise StepFailure(f"{where}: {command}: {details[0] if details else problem}", details)
    return nc


@expect.validate
def _check(args, sc, where):
    if not any(c in args for c in LISTINGS):
        raise ScenarioError(f"{where}: needs one of {', '.join(LISTINGS)}")
    bad = [x for x in args.get("ignore", []) if x not in ("inodes", "uuids", "ids")]
    if bad:
        raise ScenarioError(f"{where}: field 'ignore': unknown item '{bad[0]}'")
    return args
