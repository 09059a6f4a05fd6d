"""Crash sweeps: kill the engine right after command k (the kernel change made, nothing after it: no metadata
write, no `finally` cleanup), restart the node controller, and check what recovery leaves (field bug E13,
E14, N4). Each point also runs with a host reboot at k: kernel state (loops, dm devices) lost, files kept.

A point is a scenario program, so a failing one is printed as YAML that reproduces it on its own:

    inject_fault (crash after the k-th command)  +  the scenario's steps up to the one that crashes
    restart_node (reboot: true for the reboot variant)
    check_invariants                   no leaked loop/dm/mount/work file; blob metadata agrees with the kernel
    expect_instances                   exactly the instances that were running are adopted (none after a reboot)
    the crashed step again             a launch or a BundleInstance interrupted by the crash must succeed now
    terminate_instance, each running   and then check_invariants with all of them terminated

An imager killed mid-run leaves its pid file, its work store and their devices; the next imager on the same
work directory takes the dead one's pid file over, its blob locks and unrecorded devices, and empties the work
store. So for an imager step the program is: the steps up to it, restart_node, (after a reboot, the earlier
`prepare` runs again: their disks went with the kernel's state), the same imager run again (it must succeed,
or fail as it was expected to), then `purge_cache=yes fsck` on its stores and check_invariants: nothing may
be left.

`expect*` steps are left out: after a crash the names and numbers they pin legitimately differ."""
from __future__ import annotations

import copy

import yaml

from harness.scenario import parse
from harness.scenario.runner import run_scenario
from harness.scenario.steps import KINDS
from harness.scenario.steps.concurrently import OPERATION_FIELDS
from harness.sweeps.branching import forkable
from harness.sweeps.faults import (
    FaultPoint,
    SweepPlan,
    SweepReport,
    checked_points,
    fault_for,
    first_word,
    load_for_sweep,
    run_points,
    sampled,
)
from harness.sweeps.points import all_command_points

# a fault regex that matches nothing: the branched sweep's placeholder for the program's crash fault
NEVER = "(?!)"
CHECK_ONLY = ("expect", "expect_commands", "expect_files", "expect_guest_file", "expect_instances", "boot_check")


def running_before(steps: list[dict], upto: int) -> list[str]:
    """Instances running once raw steps [0, upto) have run: launched, not terminated, not lost to a reboot."""
    running: list[str] = []
    for raw in steps[:upto]:
        (kind, args), = raw.items()
        args = args or {}
        if kind == "run_instance" and "expect_error" not in args:
            running.append(args["id"])
        elif kind == "terminate_instance" and "expect_error" not in args and args["id"] in running:
            running.remove(args["id"])
        elif kind == "restart_node" and args.get("reboot"):
            running = []
        elif kind == "concurrently":
            for op in args.get("operations", []):
                op_kind = next(k for k in op if k not in OPERATION_FIELDS)
                op_args = op[op_kind] or {}
                if op_kind == "run_instance" and "expect_error" not in op_args and not op.get("may_fail"):
                    running.append(op_args["id"])
                elif op_kind == "terminate_instance" and "expect_error" not in op_args and op_args["id"] in running:
                    running.remove(op_args["id"])
    return running


def _concurrent_crash_program(doc: dict, step_index: int, program: list, reboot: bool) -> dict:
    """A crash inside a `concurrently` step: which of its launches and terminates finished depends on where
    the crash came, so after the restart every instance that may run is terminated in a step that lets a
    terminate of one that is not running fail; then nothing may be left."""
    steps = doc["steps"]
    (_, args), = steps[step_index - 1].items()
    candidates = [] if reboot else running_before(steps, step_index - 1)
    for op in args["operations"]:
        op_kind = next(k for k in op if k not in OPERATION_FIELDS)
        if op_kind == "run_instance" and (op[op_kind] or {}).get("id") not in candidates:
            candidates.append(op[op_kind]["id"])
    program += [KINDS["restart_node"](reboot=True) if reboot else KINDS["restart_node"](),
                KINDS["check_invariants"]()]
    ops = [{"name": f"stop{j + 1}", "may_fail": True, "terminate_instance": {"id": i}}
           for j, i in enumerate(candidates)]
    ops.append({"name": "check", "fsck": {}})
    if len(ops) < 2:   # nothing may run (a reboot took it all): the periodic check twice is the step
        ops.append({"name": "check2", "fsck": {}})
    program += [KINDS["concurrently"](operations=ops, schedule={"switches": []}),
                KINDS["check_invariants"](terminated=candidates), KINDS["expect_instances"](running=[])]
    return program


def crash_program(doc: dict, step_index: int, pattern: str, nth: int, reboot: bool, complete: bool = False,
                  recovered: list[str] | None = None) -> dict:
    """The scenario document for a crash after the `nth` command matching `pattern`, which falls in step
    `step_index` (1-based, of the original document). `complete`: the crash comes after a launch wrote its
    final record, so (without a reboot) the restart adopts it and there is nothing to launch again.
    `recovered`: for a crash in a restart's own recovery, the instances that restart left running unkilled
    (the restart after the crash must leave the same: a failed terminate's or a dead domain's are gone)."""
    steps = doc["steps"]
    crashed = copy.deepcopy(steps[step_index - 1])
    (kind, args), = crashed.items()
    if kind == "concurrently":
        program = [KINDS["inject_fault"](match=pattern, nth=nth, crash=True, after=True)]
        program += [copy.deepcopy(s) for s in steps[:step_index] if next(iter(s)) not in CHECK_ONLY]
        out = {k: copy.deepcopy(v) for k, v in doc.items() if k != "steps"}
        out["name"] = f"{doc['name']}-crash-{'reboot-' if reboot else ''}at-{pattern_label(pattern, nth)}"
        out["steps"] = _concurrent_crash_program(doc, step_index, program, reboot)
        return out
    running = [] if reboot else running_before(steps, step_index - 1)
    if kind == "restart_node" and recovered is not None and not reboot:
        running = list(recovered)
    if complete and not reboot and kind == "run_instance":
        running.append(args["id"])
    if kind == "terminate_instance" and args["id"] in running:
        running.remove(args["id"])
    program = [KINDS["inject_fault"](match=pattern, nth=nth, crash=True, after=True)]
    program += [copy.deepcopy(s) for s in steps[:step_index] if next(iter(s)) not in CHECK_ONLY]
    program += [KINDS["restart_node"](reboot=True) if reboot else KINDS["restart_node"]()]
    if kind == "imager":
        if reboot:   # the disks earlier runs prepared went with the kernel's state: prepared again first
            program += [copy.deepcopy(s) for s in steps[:step_index - 1] if next(iter(s)) == "imager"
                        and "prepare" in next(iter(s.values()))["args"]
                        and next(iter(s.values())).get("expect_rc", 0) == 0]
        if "partial" in pattern and pattern.lstrip("^").replace("\\", "").startswith("/bin/mv "):
            # killed right after extract's rename: the file is whole at out=, which the run again refuses
            crashed = KINDS["imager"](**dict(args, expect_rc=1, expect_error="exists"))
        program += [crashed, KINDS["imager"](args=_purge_args(args["args"]))]
    program += [KINDS["check_invariants"](), KINDS["expect_instances"](running=list(running))]
    if kind == "bundle_instance":
        user = next((next(iter(r.values()))["user"] for r in steps if next(iter(r)) == "run_instance"
                     and next(iter(r.values()))["id"] == args["id"]), None)
        if user is not None:      # no half-made bundle clone outlives the process that made it
            program.append(KINDS["expect_files"](absent=[f"{{instances}}/work/{user}/{args['id']}/bundle"]))
    if kind == "run_instance" and "expect_error" not in args and args["id"] not in running:
        program.append(crashed)                           # the launch again, from what recovery left
        running.append(args["id"])
    elif kind == "bundle_instance" and args["id"] in running:
        retry = {k: v for k, v in args.items() if k != "register_as"}
        program.append(KINDS["bundle_instance"](**retry))
    program += [KINDS["terminate_instance"](id=i) for i in running]
    program += [KINDS["check_invariants"](terminated=list(running)), KINDS["expect_instances"](running=[])]
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k != "steps"}
    out["name"] = f"{doc['name']}-crash-{'reboot-' if reboot else ''}at-{pattern_label(pattern, nth)}"
    out["steps"] = program
    return out


def _purge_args(tokens: list[str]) -> list[str]:
    """euca-run-workflow's last call on the same stores: `purge_cache=yes fsck`."""
    from engine.imager.grammar import split
    stores = [f"{k}={v}" for k, v in split(tokens).globals if k in ("cache", "work")]
    return stores + ["purge_cache=yes", "fsck"]


def pattern_label(pattern: str, nth: int) -> str:
    words = pattern.strip("^$").replace("\\", "").split()
    tool = words[0].rsplit("/", 1)[-1] if words else "command"
    return f"{tool}-{nth}"


def sweep_crashes(path: str, only: list[int] | None = None, reboots: bool = True, jobs: int = 1,
                  fast_path: bool = False, all_commands: bool = False, build_workers: int = 1,
                  branched: bool = True, variants: tuple[bool, ...] | None = None, sample: int = 0,
                  seed: int = 0) -> SweepReport:
    """`branched`: branch the points off one run where the scenario allows it (harness.sweeps.branching);
    False runs each point's program from the start (the reference the branched sweep is checked against).
    `variants`: which of (no reboot, reboot) to run at each point (default: both, or no reboot without `reboots`)."""
    variants = variants if variants is not None else ((False, True) if reboots else (False,))
    plan = plan_crashes(path, only, variants, fast_path, all_commands, build_workers, sample, seed)
    report = SweepReport(plan.name)
    report.points = plan.run(jobs, branched)
    return report


def plan_crashes(path: str, only: list[int] | None = None, variants: tuple[bool, ...] = (False, True),
                 fast_path: bool = False, all_commands: bool = False, build_workers: int = 1, sample: int = 0,
                 seed: int = 0, max_points: int = 0) -> SweepPlan:
    """The crash sweep made ready; its keys are (k, reboot), one program each. `sample`, `max_points`: as
    plan_faults'."""
    from harness.backends.sim import SimHost
    # refuses what the sweep cannot run, with the loader's errors
    sc = load_for_sweep(path, fast_path, build_workers)
    if any(step.kind == "image" for step in sc.steps):
        # resize, stamp and zerofree are one-shot tools with no state to recover from: a killed one leaves its
        # loops and mounts to whoever finds them
        raise ValueError(f"{path}: crash sweeps do not cover image steps (one-shot tools, nothing recovers "
                         "them; --faults does)")
    if any(step.kind == "inject_fault" and step.args.get("crash") for step in sc.steps):
        raise ValueError(f"{path}: the scenario kills the engine itself (inject_fault with crash: true); a crash "
                         "sweep cannot add its own crash to it")
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if fast_path:
        # the crash programs are YAML: the fast path goes into the document, before any step is counted
        doc["node"] = dict(doc.get("node") or {}, fast_path=True)
        doc["steps"] = [step for step in doc["steps"] if "expect_commands" not in step]
    if build_workers > 1:
        doc["node"] = dict(doc.get("node") or {}, build_workers=build_workers)
        doc["steps"] = [step for step in doc["steps"] if "expect_commands" not in step and "expect" not in step]
    text = yaml.safe_dump(doc, sort_keys=False)
    running_at: dict[int, list[str]] = {}      # step index -> the instances running before it, unkilled

    def running(nc) -> list[str]:
        return sorted(i.id for i in nc.instances.values() if i.state == "running")
    base = run_scenario(parse(text, path),
                        on_step=lambda result, step: running_at.__setitem__(step.index, running(result.controller)))
    if not base.ok:
        raise ValueError(f"{path}: the scenario fails without crashes: {base.failure}")
    commands = [c.text for c in base.recorder.commands]
    ranges = [(s.index, s.commands) for s in base.steps]
    by_k = {}
    if all_commands:
        # every command the engine ran, its own metadata reads and writes included, not only NC's logged ones
        commands = base.recorder.issued
        kinds = {step.index: step.kind for step in base.scenario.steps}
        # with a hypervisor, a launch is adopted only once its domain runs: its final record completes nothing
        adoptable = "hypervisor" not in (doc.get("node") or {})
        by_k = {k: (step, pattern, nth, complete and adoptable)
                for k, step, pattern, nth, complete in all_command_points(commands, base.steps, kinds)}

    def where(k: int) -> tuple[int, str, int, bool]:
        if all_commands:
            return by_k[k]
        step_index = next(index for index, (first, last) in ranges if first < k <= last)
        return (step_index, *fault_for(commands, k), False)

    if base.controller is not None:
        running_at[len(doc["steps"]) + 1] = running(base.controller)

    def program_of(k: int, reboot: bool) -> dict:
        step_index, pattern, nth, complete = where(k)
        return crash_program(doc, step_index, pattern, nth, reboot, complete, running_at.get(step_index + 1))

    def point(key: tuple[int, bool]) -> FaultPoint:
        k, reboot = key
        program = program_of(k, reboot)
        sc = parse(yaml.safe_dump(program, sort_keys=False), path)
        host = SimHost(dialect=sc.dialect, seed=sc.seed)
        result = run_scenario(sc, host=host)
        command = commands[k - 1] + (" [reboot]" if reboot else "")
        out = judge(k, command, result, host)
        out.program = yaml.safe_dump(program, sort_keys=False, width=120)
        return out

    def points(k: int) -> list[FaultPoint]:
        return [point((k, reboot)) for reboot in variants]

    ks = checked_points(only, len(commands))
    if all_commands:
        ks = [k for k in ks if k in by_k]
    if sample and not forkable(sc):
        ks = sampled(ks, sample, seed)
    if max_points:
        ks = sampled(ks, max_points, seed)

    def run(jobs: int, branched: bool = True) -> list:
        if branched and forkable(sc):
            return _branched(doc, path, ks, commands, where, program_of, variants, jobs, points)
        return [p for group in run_points(points, ks, jobs) for p in group]
    return SweepPlan(base.scenario.name, [(k, reboot) for k in ks for reboot in variants], point, run)


def _branched(doc: dict, path: str, ks: list[int], commands: list[str], where, program_of, variants: tuple,
              jobs: int, rerun) -> list[FaultPoint]:
    """The crash points branched off one run (harness.sweeps.branching). Every crash program is the scenario's
    steps, check steps left out, behind an `inject_fault` step, up to the crashed step; then the program's own
    recovery steps. So one run of that longest prefix (its fault one that never fires) is every program's
    start: at a point's command, the branch makes the fault that one, fired there, and its pending steps the
    program's recovery."""
    from harness.backends.sim import SimHost
    from harness.sweeps.branching import Point, branch
    base_doc = {key: copy.deepcopy(value) for key, value in doc.items() if key != "steps"}
    base_doc["steps"] = [{"inject_fault": {"match": NEVER, "crash": True, "after": True}}]
    base_doc["steps"] += [copy.deepcopy(s) for s in doc["steps"] if next(iter(s)) not in CHECK_ONLY]
    sc = parse(yaml.safe_dump(base_doc, sort_keys=False), path)
    host = SimHost(dialect=sc.dialect, seed=sc.seed)
    points = []
    for k in ks:
        _, pattern, nth, _ = where(k)
        points += [Point((k, reboot), pattern, nth, first_word(commands[k - 1])) for reboot in variants]
    runs: list = []
    programs: dict = {}

    def on_branch(p) -> None:
        k, reboot = p.key
        fault = host.fault_table().faults[0]
        fault.match, fault.nth = p.pattern, 1
        programs[p.key] = program_of(k, reboot)
        step_index = where(k)[0]
        prefix = 1 + sum(next(iter(s)) not in CHECK_ONLY for s in doc["steps"][:step_index])
        tail = parse(yaml.safe_dump(programs[p.key], sort_keys=False), path).steps[prefix:]
        runs[-1].pending[:] = tail

    def run_base(brancher):
        def count_from_the_fault(result, step) -> None:
            if step.index == 1:    # the fault step is the first: a program's fault counts from there
                host.fault_table().observer = brancher.observe
        return run_scenario(sc, host=host, on_start=runs.append, on_run=count_from_the_fault)

    def judge_branch(p, result) -> FaultPoint:
        k, reboot = p.key
        command = commands[k - 1] + (" [reboot]" if reboot else "")
        if isinstance(result, BaseException):
            point = FaultPoint(k, command, "wrong state", f"uncaught {type(result).__name__}: {result}")
        else:
            point = judge(k, command, result, host)
        point.program = yaml.safe_dump(programs[p.key], sort_keys=False, width=120)
        return point

    brancher = branch(run_base, points, jobs, on_branch, judge_branch)
    out, redo = [], {p.key[0] for p in brancher.unbranched}
    for k in ks:
        if k in redo:
            out += rerun(k)
            continue
        for reboot in variants:
            got = brancher.results.get((k, reboot))
            command = commands[k - 1] + (" [reboot]" if reboot else "")
            if got is None:
                got = FaultPoint(k, command, "wrong state", "the crash point was never reached")
            elif not isinstance(got, FaultPoint):
                got = FaultPoint(k, command, "wrong state", f"the branch failed: {got!r}")
            out.append(got)
    return out


def judge(k: int, command: str, result, host) -> FaultPoint:
    fault = host.fault_table().faults[0]
    if not fault.fired:
        return FaultPoint(k, command, "wrong state", "the crash point was never reached")
    if result.ok:
        return FaultPoint(k, command, "clean", "recovered")
    outcome = "leak" if "leak" in result.failure else "wrong state"
    return FaultPoint(k, command, outcome, result.failure)
