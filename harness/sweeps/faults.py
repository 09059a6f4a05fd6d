"""Fault sweeps: run a scenario once per engine command k, with command k failing the way the real tool fails,
and check what the engine left (field bugs: the bugs live in rollback and teardown).

After each faulted run:
- a failed `run_instance` must leave the node as it was before that step (loops and dm tables; `euca-zero`
  may have appeared), with no leaked loop, dm device, mount or work directory;
- a failed `terminate_instance` must leave something a second terminate finishes, leak-free;
- a run in which no step failed (the command's failure is tolerated, e.g. a retried removal) must still pass
  every expectation of the scenario.
- a failed `bundle_instance` (the task ends `failed`) must leave the instance's devices as they were and no
  bundle directory;
- and in every case, every blob's metadata must agree with the kernel (harness.checks.invariants).
Anything else is `wrong state`; leaks are counted apart. `expect_commands` steps are left out of faulted runs:
a fault legitimately changes which commands run. Simulator only: the faults are injected there."""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.checks.compare import ids_as_wildcards, mask
from harness.scenario import load
from harness.scenario.runner import run_scenario
from harness.sweeps.branching import forkable
from harness.sweeps.points import all_command_points


def as_argv_line(text: str) -> str:
    """The recorded text as the node sees the argv: a table fed on stdin is logged as `echo "..." | dmsetup`,
    and parted's empty fs hint as a double space."""
    if text.startswith("echo ") and " | /sbin/" in text:
        text = text.split(" | ", 1)[1]
    return " ".join(text.split())


def first_word(text: str) -> str:
    """The program a recorded or issued command line runs (argv[0]), as a branched sweep looks its point up."""
    return as_argv_line(text).split()[0]


def fault_for(commands: list[str], k: int) -> tuple[str, int]:
    """A fault that hits exactly the k-th recorded engine command (by its text and occurrence), never the
    engine's unrecorded queries (`losetup /dev/loopN`, `test`, `cat`...)."""
    line = as_argv_line(commands[k - 1])
    key = mask(line, ("ids",))
    nth = sum(mask(as_argv_line(c), ("ids",)) == key for c in commands[:k])
    # blob ids match any id: a crash program runs fewer check commands, so its clock differs, and an id hashing
    # an image whose journal records commit times (the bundled root's) differs with it
    return "^" + ids_as_wildcards(line) + "$", nth


@dataclass
class FaultPoint:
    k: int
    command: str
    outcome: str             # clean | leak | wrong state
    detail: str = ""
    program: str = ""        # a scenario (YAML) that reproduces this point on its own, when there is one
    also: int = 0            # a pair's second command (sampled pairs: k and then `also` fail in one run)
    stopped: int = field(default=0, compare=False)   # a branch stopped early: the step it stopped before

    @property
    def label(self) -> str:
        return f"{self.k}+{self.also}" if self.also else str(self.k)


@dataclass
class SweepReport:
    scenario: str
    points: list[FaultPoint] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(p.outcome == outcome for p in self.points)

    def line(self) -> str:
        return (f"fault points: {len(self.points)}, clean: {self.count('clean')}, leaks: {self.count('leak')}, "
                f"wrong state: {self.count('wrong state')}")


def _without_zero(text: str) -> list[str]:
    """`euca-zero` is made on first need and shared: its appearing is not a change of the instance's state."""
    return sorted(line for line in text.splitlines()
                  if not line.startswith("euca-zero") and line != "No devices found")


def checked_points(only: list[int] | None, count: int) -> list[int]:
    beyond = [k for k in only or [] if not 1 <= k <= count]
    if beyond:
        raise ValueError(f"--points: {beyond[0]} is not a command of this scenario (1..{count})")
    return list(only or range(1, count + 1))


def run_points(point, ks: list, jobs: int = 1) -> list:
    """`point(k)` for each k, in order; over `jobs` forked processes when jobs > 1 (each point is a whole
    scenario run on its own simulated node, so they share nothing)."""
    if jobs <= 1 or len(ks) < 2:
        return [point(k) for k in ks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    global _POINT
    _POINT = point             # inherited by the forked workers: closures need not pickle
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_call_point, ks, chunksize=max(1, len(ks) // (jobs * 8))))


_POINT = None


def _call_point(k: int):
    return _POINT(k)


def load_for_sweep(path: str, fast_path: bool, build_workers: int = 1):
    """The scenario as a sweep runs it: on the engine's fast path when asked (refused for one whose faults name
    NC 3.3's exact commands), with several build workers when asked (refused for one that assumes one build at
    a time; its `expect` steps, which pin loop numbers and dm minors, are left out: the sweep judges leaks)."""
    sc = load(path)
    if any(step.kind == "boot_check" for step in sc.steps):
        # each point would boot a guest under the host's libvirt (minutes each, one domain name for all)
        raise ValueError(f"{path}: boots a real guest under libvirt (boot_check), which a sweep would do at "
                         "every point; the real-node stage runs it")
    if fast_path:
        if sc.engine_path == "compatible":
            raise ValueError(f"{path}: engine_path: compatible (its faults name NC 3.3's exact commands); "
                             "sweep it without --fast-path")
        sc.fast_path()
    if build_workers > 1:
        if sc.build_order == "sequential":
            raise ValueError(f"{path}: build_order: sequential (its faults or loop counts assume one build at a "
                             "time); sweep it without --build-workers")
        sc.node = dict(sc.node, build_workers=build_workers)
        sc.steps = [s for s in sc.steps if s.kind not in ("expect", "expect_commands")]
    return sc


@dataclass
class SweepPlan:
    """A sweep made ready: its points' keys, one point run on its own from the start (`point(key)`, what a pytest
    item runs), and all of them (`run(jobs, branched)`, what `nc-harness sweep` runs)."""
    name: str
    keys: list
    point: object
    run: object


def sweep_faults(path: str, times: int = 1, only: list[int] | None = None, jobs: int = 1,
                 fast_path: bool = False, all_commands: bool = False, build_workers: int = 1,
                 branched: bool = True, pairs: int = 0, seed: int = 0, sample: int = 0) -> SweepReport:
    """`branched`: branch the points off one run where the scenario allows it (harness.sweeps.branching);
    False re-runs every point from the start (the reference the branched sweep is checked against). `pairs`:
    instead of one command per point, this many pairs of commands (k1 < k2) drawn with `seed`, both failing in
    one run (the second may never come: the first changed the path)."""
    plan = plan_faults(path, times, only, fast_path, all_commands, build_workers, pairs, seed, sample)
    report = SweepReport(plan.name)
    report.points = plan.run(jobs, branched)
    return report


def plan_faults(path: str, times: int = 1, only: list[int] | None = None, fast_path: bool = False,
                all_commands: bool = False, build_workers: int = 1, pairs: int = 0, seed: int = 0,
                sample: int = 0, max_points: int = 0) -> SweepPlan:
    """`sample`: a sweep that cannot branch (harness.sweeps.branching.forkable) runs this many of its points,
    drawn with `seed` (0: all); `max_points`: any sweep runs at most this many, drawn the same way."""
    from harness.backends.sim import SimHost
    from simulator.faults import Fault
    base = run_scenario(load_for_sweep(path, fast_path, build_workers))
    if not base.ok:
        raise ValueError(f"{path}: the scenario fails without faults: {base.failure}")
    commands = [c.text for c in base.recorder.commands]
    by_k: dict[int, tuple[str, int]] = {}
    if all_commands:
        # every command the engine ran in its launch, terminate and bundle steps, its own metadata reads and
        # writes included: NC made those as syscalls, and a failing one must be rolled back the same way
        commands = base.recorder.issued
        kinds = {step.index: step.kind for step in base.scenario.steps}
        by_k = {k: (pattern, nth) for k, _, pattern, nth, _ in
                all_command_points(commands, base.steps, kinds)}

    def point_scenario():
        sc = load_for_sweep(path, fast_path, build_workers)
        # a fault changes which commands run (a retry adds one): sweeps judge the node's state, not counts
        sc.steps = [step for step in sc.steps if step.kind != "expect_commands"]
        for step in sc.steps:
            if step.kind == "expect":      # a retry's extra second or token renames blobs, not devices
                step.args["ignore"] = list(step.args.get("ignore", [])) + ["ids"]
        return sc

    def fault_of(k: int) -> tuple[str, int]:
        return by_k[k] if all_commands else fault_for(commands, k)

    def outcome(key: tuple, faults: list, result, host) -> FaultPoint:
        point = _keyed(key, commands, "clean")
        if isinstance(result, BaseException):   # an engine error that escaped its step is this point's outcome
            point.outcome, point.detail = "wrong state", f"uncaught {type(result).__name__}: {result}"
        elif not faults[0].fired:   # a point whose command never ran as named would be clean, having tested nothing
            point.outcome, point.detail = "wrong state", "the fault never fired"
        else:
            judged = _judge(point.k, point.command, result, host)
            point.outcome, point.detail = judged.outcome, judged.detail
        return point

    def point(key: tuple) -> FaultPoint:
        sc = point_scenario()
        host = SimHost(dialect=sc.dialect, seed=sc.seed)
        faults = [host.fault_table().add(Fault(*fault_of(k), times=times)) for k in key]
        try:
            result = run_scenario(sc, host=host, leak_check=False)
        except Exception as exc:  # noqa: BLE001 - reported as the outcome of this point
            result = exc
        return outcome(key, faults, result, host)

    ks = checked_points(only, len(commands))
    if all_commands:
        ks = [k for k in ks if k in by_k]
    if sample and not forkable(point_scenario()):
        if pairs:
            pairs = min(pairs, sample)
        else:
            ks = sampled(ks, sample, seed)
    if max_points and not pairs:
        ks = sampled(ks, max_points, seed)
    keys = [(k,) for k in ks] if not pairs else sampled_pairs(ks, pairs, seed)

    def run(jobs: int, branched: bool = True) -> list:
        if branched and forkable(point_scenario()):
            return _branched(point_scenario, keys, commands, fault_of, times, jobs, outcome, point)
        return run_points(point, keys, jobs)
    return SweepPlan(base.scenario.name, keys, point, run)


def sampled(ks: list[int], count: int, seed: int) -> list[int]:
    import random
    return sorted(random.Random(seed).sample(ks, min(count, len(ks))))


def sampled_pairs(ks: list[int], count: int, seed: int) -> list[tuple[int, int]]:
    """`count` distinct pairs (k1 < k2) of the points, drawn with `seed`, in order."""
    import random
    n = len(ks)
    total = n * (n - 1) // 2
    chosen = sorted(random.Random(seed).sample(range(total), min(count, total)))
    out, i, first = [], 0, 0     # index -> (i, j), i < j, row by row
    for index in chosen:
        while index >= first + (n - 1 - i):
            first += n - 1 - i
            i += 1
        out.append((ks[i], ks[i + 1 + index - first]))
    return out


def _branched(make_scenario, keys: list[tuple], commands: list[str], fault_of, times: int, jobs: int, outcome,
              rerun) -> list:
    """The points branched off one run of the point scenario (harness.sweeps.branching): the sweep's fault is
    put first in the node's table at its command, where a fresh run's fault, installed before the run, would
    fire; what a point re-run from the start would do, it does from there. A pair's second fault goes in
    behind it, having seen the matches a fresh run's would have by then.

    A first run without branches records the state at each step's start (run_fingerprint). A branch whose faults
    were tolerated and are spent, and whose state at a step's start is that run's there, stops: the rest would go
    as the unfaulted run went, which ended clean (checked: otherwise no branch stops early)."""
    from harness.backends.sim import SimHost
    from harness.sweeps.branching import BranchDecided, Point, branch, run_fingerprint
    from simulator.faults import Fault
    runs: list = []

    def run_once(host, sc, **hooks):
        return run_scenario(sc, host=host, leak_check=False, on_start=runs.append, **hooks)

    sc = make_scenario()
    host = SimHost(dialect=sc.dialect, seed=sc.seed)
    states: dict[int, str] = {}
    first = run_once(host, sc, on_step=lambda result, step: states.__setitem__(step.index, run_fingerprint(runs[-1])))
    if not (first.ok and _judge(0, "", first, host).outcome == "clean"):
        states.clear()       # an unfaulted run that does not end clean: no branch may borrow its end

    points = [Point(key, *fault_of(key[0]), first_word(commands[key[0] - 1])) for key in keys]
    tracked = [(fault_of(key[1])[0], first_word(commands[key[1] - 1])) for key in keys if len(key) > 1]
    sc = make_scenario()
    host = SimHost(dialect=sc.dialect, seed=sc.seed)
    spent: list = []
    holder: list = []

    def on_branch(p) -> None:
        table = host.fault_table().faults
        spent.append(Fault(p.pattern, nth=1, times=times))
        table.insert(0, spent[0])
        if len(p.key) > 1:
            pattern, nth = fault_of(p.key[1])
            spent.append(Fault(pattern, nth=nth - holder[0].seen_before(pattern), times=times))
            table.insert(1, spent[1])

    def decided(result, step) -> None:
        if not spent:
            # the unbranched run: the same states again (else that step's is not to be relied on), and each file's
            # digest kept for the branches, which then hash only what they changed
            if states.get(step.index) != run_fingerprint(runs[-1]):
                states.pop(step.index, None)
        elif all(f.fired == times for f in spent) and \
                states.get(step.index) == run_fingerprint(runs[-1], tuple(spent)):
            raise BranchDecided(step.index)

    def run_base(brancher):
        holder.append(brancher)
        host.fault_table().observer = brancher.observe
        return run_once(host, sc, on_step=decided)

    def judge(p, result) -> FaultPoint:
        if isinstance(result, BranchDecided):
            point = _keyed(p.key, commands, "clean", "tolerated")
            point.stopped = result.args[0]
            return point
        return outcome(p.key, spent, result, host)

    brancher = branch(run_base, points, jobs, on_branch, judge, tracked)
    out = []
    for p in points:
        got = brancher.results.get(p.key)
        if p in brancher.unbranched:
            got = rerun(p.key)
        elif got is None:
            got = _keyed(p.key, commands, "wrong state", "the fault never fired")
        elif not isinstance(got, FaultPoint):
            got = _keyed(p.key, commands, "wrong state", f"the branch failed: {got!r}")
        out.append(got)
    return out


def _keyed(key: tuple, commands: list[str], outcome: str, detail: str = "") -> FaultPoint:
    """The point of a key, (k,) or a pair (k1, k2), with this outcome."""
    point = FaultPoint(key[0], commands[key[0] - 1], outcome, detail, also=key[1] if len(key) > 1 else 0)
    if point.also:
        point.command += f" and then {commands[point.also - 1]}"
    return point


def _judge(k: int, command: str, result, host) -> FaultPoint:
    nc = result.controller
    failed = next((s for s in result.steps if s.status == "failed"), None)
    if failed is None:
        if nc is None:
            return FaultPoint(k, command, "clean", "tolerated")
        return _after(k, command, host, nc, result.scenario.leaks_allowed, "tolerated")
    step = next(s for s in result.scenario.steps if s.index == failed.index)
    if step.kind == "concurrently":
        return _judge_concurrent(k, command, result, host, step, failed)
    if step.kind == "imager":
        return _judge_imager(k, command, result, host, step, failed)
    if step.kind == "image":
        return _judge_image(k, command, result, host, step, failed)
    if step.kind in ("run_instance", "bundle_instance"):
        # a failed build rolls back; a failed BundleInstance (task `failed`) leaves the instance's devices as
        # they were and its bundle directory gone
        changed = _devices_changed(result.snapshots[step.index], result.state_after, _engines(nc))
        if changed:
            return FaultPoint(k, command, "wrong state", f"{failed.label}: {changed} differs from before the step")
        if step.kind == "bundle_instance":
            inst = nc.instances.get(step.args["id"])
            if "bundle task failed" not in failed.message:
                return FaultPoint(k, command, "wrong state", f"{failed.label}: {failed.message}")
            if inst is not None and host.run(["test", "-e", f"{nc.instance_dir(inst.user, inst.id)}/bundle"]).rc == 0:
                return FaultPoint(k, command, "wrong state", f"{failed.label}: the bundle directory was left")
    elif step.kind == "restart_node":
        # a node controller that cannot start (its recovery failed on the fault) starts on the next try, and
        # recovers then what the first left
        host.fault_table().faults.clear()
        try:
            run = result.run
            nc = run.new_controller()
            nc.restart()
        except Exception as exc:  # noqa: BLE001 - reported as the outcome of this point
            return FaultPoint(k, command, "wrong state", f"second restart failed: {exc}")
    elif step.kind == "terminate_instance":
        host.fault_table().faults.clear()
        try:
            nc.terminate_instance(step.args["id"])
        except Exception as exc:  # noqa: BLE001 - reported as the outcome of this point
            return FaultPoint(k, command, "wrong state", f"second terminate failed: {exc}")
    else:
        return FaultPoint(k, command, "wrong state", f"{failed.label}: {failed.message}")
    return _after(k, command, host, nc, result.scenario.leaks_allowed, f"{failed.label} failed cleanly")


def _judge_imager(k: int, command: str, result, host, step, failed) -> FaultPoint:
    """A failed imager run leaves no work directory, and nothing on the node but finished blobs of its cache:
    purging that cache (`purge_cache=yes fsck`, as euca-run-workflow ends) brings the devices back to the state
    before the step. Its stores are its own, not the controller's, so the blob invariants do not apply."""
    from engine.imager.grammar import check_params, split
    from engine.imager.run import GLOBALS, Imager
    from engine.nodeio import clock_for
    from harness.scenario.runner import snapshot
    host.fault_table().faults.clear()
    globals_ = check_params("global parameters", split(step.args["args"]).globals, GLOBALS)
    if host.run(["test", "-e", globals_["work"]]).rc == 0:
        return FaultPoint(k, command, "leak", f"{failed.label}: the work directory {globals_['work']} was left")
    before = result.snapshots[step.index]
    if _devices_changed(before, result.state_after):
        Imager(host, None, clock=clock_for(host)).run(
            [f"cache={globals_['cache']}", f"work={globals_['work']}", "purge_cache=yes", "fsck"])
        changed = _devices_changed(before, snapshot(host))
        if changed:
            return FaultPoint(k, command, "leak", f"{failed.label}: {changed} keeps what its cache does not own")
    return FaultPoint(k, command, "clean", f"{failed.label} failed cleanly")


def _judge_image(k: int, command: str, result, host, step, failed) -> FaultPoint:
    """A failed image tool (resize, stamp, zerofree) leaves the devices as they were before the step, nothing
    mounted or made under /tmp, and no half-made new image (resize's --out)."""
    from engine.imager.resize import default_out
    from harness.images.prep_tools import step_parser
    host.fault_table().faults.clear()
    changed = _devices_changed(result.snapshots[step.index], result.state_after)
    if changed:
        return FaultPoint(k, command, "leak", f"{failed.label}: {changed} differs from before the step")
    mounted = [line for line in host.run(["mount"]).stdout.splitlines() if " on /tmp/nc-harness-" in line]
    if mounted:
        return FaultPoint(k, command, "leak", f"{failed.label}: still mounted: {mounted[0]}")
    left = [p for p in host.run(["find", "/tmp"]).stdout.split() if p.startswith("/tmp/nc-harness-")]
    if left:
        return FaultPoint(k, command, "leak", f"{failed.label}: {left[0]} was left")
    args = step_parser().parse_args([str(a) for a in step.args["args"]])
    if args.image_verb == "resize":
        out = args.out or default_out(args.image)
        if host.run(["test", "-e", out]).rc == 0:
            return FaultPoint(k, command, "leak", f"{failed.label}: the new image {out} was left")
    return FaultPoint(k, command, "clean", f"{failed.label} failed cleanly")


def _devices_changed(before: dict, after: dict, mine=None) -> str:
    """The first of `losetup -a` and `dmsetup table` whose snapshots differ (euca-zero aside), or ''. `mine`: only
    the lines it keeps count (the engine's own devices: another program's loop is not the step's to undo)."""
    def lines(snap: dict, cmd: str) -> list[str]:
        return [line for line in _without_zero(snap.get(cmd, "")) if mine is None or mine(line)]
    return next((cmd for cmd in ("losetup -a", "dmsetup table") if lines(before, cmd) != lines(after, cmd)), "")


def _engines(nc):
    """Lines naming the engine's devices: loops over files in its stores, dm devices of its prefix."""
    roots = tuple({p.rstrip("/") + "/" for s in (nc.cache, nc.work) if s is not None
                   for p in (s.path, s._canonical or s.path)})
    prefix = nc.config.dm_prefix
    return lambda line: line.startswith(prefix) or any(f"({root}" in line or f" {root}" in line for root in roots)


def _judge_concurrent(k: int, command: str, result, host, step, failed) -> FaultPoint:
    """Operations at once, one of them hit by the fault: a launch that failed rolled back (its instance gone, no
    device of it left), a terminate that failed is finished by a second one, and then the node is consistent."""
    nc = result.controller
    if nc is None:
        return FaultPoint(k, command, "wrong state", f"{failed.label}: {failed.message}")
    host.fault_table().faults.clear()
    names = host.run(["dmsetup", "ls"]).stdout
    for op in step.args["operations"]:
        inst_id = op["args"].get("id")
        if op["kind"] == "run_instance" and inst_id not in nc.instances and f"-{inst_id}-" in names:
            return FaultPoint(k, command, "wrong state", f"{failed.label}: {op['name']}: the failed launch left "
                                                          f"devices of {inst_id}")
        if op["kind"] == "terminate_instance" and inst_id in nc.instances:
            try:
                nc.terminate_instance(inst_id)
            except Exception as exc:  # noqa: BLE001 - reported as the outcome of this point
                return FaultPoint(k, command, "wrong state", f"{op['name']}: second terminate failed: {exc}")
    return _after(k, command, host, nc, result.scenario.leaks_allowed, f"{failed.label} failed cleanly")


def _after(k: int, command: str, host, nc, allowed: list[str], clean: str) -> FaultPoint:
    """No leak, and every blob's metadata agrees with the kernel (the state machine's invariants)."""
    from harness.checks.invariants import check
    problems = check(host, nc, allowed=allowed)
    if problems and problems[0].startswith("leak: "):
        return FaultPoint(k, command, "leak", problems[0][len("leak: "):])
    if problems:
        return FaultPoint(k, command, "wrong state", problems[0])
    return FaultPoint(k, command, "clean", clean)
