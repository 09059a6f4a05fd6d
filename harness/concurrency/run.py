"""Running a `concurrently` step: its operations as tasks of one schedule, each in its process.

Operations of process `nc` are threads of the scenario's node controller: they share its lock table (locks
behave as between threads) and its loop_sem. Any other process name is another engine process on the same
node and stores: a controller of its own, with its own lock-owner token (locks behave as between processes),
which exits when the step ends. The imager and other programs are always processes of their own.

On the simulator the operations take turns at every command (engine.workers.Turns with a schedule from
`harness.concurrency.schedule`): one seed, one interleaving, the same bytes every run. On a real node they run
on real threads, at once; a pinned race is then held for real, by polling (`harness.concurrency.live`).
"""
from __future__ import annotations

import re

from engine.nodeio import VirtualClockAdapter, clock_for
from engine.workers import Deadlock, Turns
from harness.concurrency.live import LiveTurns
from harness.concurrency.schedule import DefaultOrder, Hold, PctSchedule, Schedule
from harness.scenario.registry import KINDS, ProcessDown, StepFailure
from hostapi import Capability

OPERATION_KINDS = ("run_instance", "terminate_instance", "purge_cache", "fsck", "imager", "restart_node",
                   "node_command", "bundle_instance")


def make_schedule(spec: dict | None, holds: list[Hold], seed: int) -> Schedule:
    spec = spec or {}
    if "switches" in spec:
        return DefaultOrder(spec["switches"], holds)
    return PctSchedule(spec.get("seed", seed), spec.get("preemptions", 2), spec.get("horizon", 200), holds)


def holds_of(operations: list[dict]) -> list[Hold]:
    out = []
    for op in operations:
        h = op.get("hold")
        if h is None:
            continue
        out.append(Hold(op["name"], re.compile(h["at"]), h.get("until", ""),
                        reaches=re.compile(h["reaches"]) if "reaches" in h else None,
                        finishes=bool(h.get("finishes")), waits=bool(h.get("waits")),
                        seconds=float(h.get("seconds", 0)), after=bool(h.get("after"))))
    return out


class ProcessView:
    """The run as one process's operations see it: its own `crashed` (a process killed at a crash point takes
    its threads with it, not the other processes), everything else the scenario run's."""

    def __init__(self, run, process: str):
        self._run, self.process, self.crashed = run, process, run.crashed if process == "nc" else ""

    def __getattr__(self, name):
        return getattr(self._run, name)


def run_concurrently(args, nc, ctx, where):
    operations = args["operations"]
    holds = holds_of(operations)
    build_workers = ctx.scenario.node.get("build_workers", 1)
    if ctx.host.has(Capability.VIRTUAL_CLOCK):
        schedule = make_schedule(args.get("schedule"), holds, ctx.scenario.seed)
        turns = Turns(build_workers, schedule)
    else:
        schedule = DefaultOrder(holds=holds)
        turns = LiveTurns(build_workers, schedule)
    clock = clock_for(ctx.host)
    schedule.now = clock.now
    if isinstance(clock, VirtualClockAdapter):
        schedule.advance = clock.virtual.advance
    ctx.result.schedules.append(schedule)
    own = getattr(ctx, "name", "") or getattr(ctx, "first", "")   # the node this step acts on
    views: dict = {}
    controllers = {(own, "nc"): nc}
    restarted = []

    def task(op):
        node = op["node"] or own
        key = (node, op["process"])
        if key not in views:
            views[key] = ProcessView(ctx.view(node) if node != own else ctx, op["process"])
        view = views[key]
        label = f"{where}: {op['name']} ({op['kind']})"

        def body():
            if (node, "nc") not in controllers:   # another node's controller, started at its first use
                from harness.scenario.nodes import controller_of
                controllers[(node, "nc")] = controller_of(ctx, node, label, may_be_absent=op["kind"] == "restart_node")
            if op["kind"] == "restart_node":
                fresh = KINDS["restart_node"].run(op["args"], controllers[(node, "nc")], view, label)
                controllers[(node, "nc")] = fresh
                restarted.append(fresh)
                return
            if key not in controllers and op["kind"] not in ("imager", "node_command"):
                controllers[key] = view.new_controller()   # attached to the turns as it is made
            KINDS[op["kind"]].run(op["args"], controllers.get(key, controllers[(node, "nc")]), view, label)
        return body

    saved = _attach_all(ctx, turns, nc)
    try:
        outcomes = turns.run([task(op) for op in operations], count=len(operations),
                             names=[op["name"] for op in operations])
    finally:
        ctx.turns = None
        _restore(saved)
    for controller in [*restarted, *controllers.values()]:
        if controller is not None and controller is not nc:   # made during the step: its own workers again
            if hasattr(controller.io.clock, "turns"):
                controller.io.clock.turns = None
            controller.io.workers = controller.io.clock.workers(build_workers)
    for (node, process), controller in controllers.items():
        if process == "nc" and node != own and getattr(ctx, "controllers", None) is not None:
            ctx.controllers[node] = controller
    failures = []
    for op, (ok, value) in zip(operations, outcomes):
        if ok:
            continue
        view = views.get((op["node"] or own, op["process"]))
        if view is not None and view.crashed and isinstance(value, ProcessDown):
            # its process was killed at a crash point before this operation ran a command: it died with it
            ctx.result.log.append(f"{op['name']} died with its process (killed at '{view.crashed}')")
            continue
        if isinstance(value, StepFailure):
            message = str(value)
        elif isinstance(value, Deadlock):
            message = f"{where}: {op['name']}: deadlock: {value}"
        else:
            message = f"{where}: {op['name']}: {type(value).__name__}: {value}"
        if op["may_fail"]:
            ctx.result.log.append(f"{op['name']} failed, as it may: {message}")
        else:
            failures.append(message)
    if views.get((own, "nc")) is not None and views[(own, "nc")].crashed:
        ctx.crashed = views[(own, "nc")].crashed
    if isinstance(turns, LiveTurns):
        ctx.result.log.append(f"concurrently: operations at once on the node, up to {turns.peak} of them running "
                              "commands at the same time")
    else:
        ctx.result.log.append(f"concurrently: {len(schedule.decisions)} decisions, switches {schedule.switches()}")
    # a crash point kills a process with its operations: their holds, and those waiting on them, are moot
    dead = {op["name"] for op in operations
            if views.get((op["node"] or own, op["process"])) is not None
            and views[(op["node"] or own, op["process"])].crashed}
    failures += [f"{where}: {h}: nothing else could run, so it was let go" for h in schedule.forced_holds(dead)]
    failures += [f"{where}: {h}: never reached" for h in schedule.unreleased_holds(dead)]
    if failures:
        raise StepFailure(failures[0], failures)
    return controllers[(own, "nc")]


def _attach_all(ctx, turns, nc) -> tuple:
    """Every engine process of the step takes its turns from `turns` (those started during it as they start);
    returns what to put back on the step's own controller."""
    ctx.turns = turns
    saved = (nc.io, nc.io.workers, getattr(nc.io.clock, "turns", None))
    ctx.attach(nc.io)
    return saved


def _restore(saved: tuple) -> None:
    io, workers, clock_turns = saved
    io.workers = workers
    if isinstance(io.clock, VirtualClockAdapter):
        io.clock.turns = clock_turns
