"""Independent artifacts built at once (NodeConfig.build_workers): the same devices as one at a time, a
deterministic interleaving on the simulator, and rollback that leaves nothing behind."""
import os
import threading

import pytest
from conftest import ROOT

from engine.workers import Sequential, Threads, Turns
from harness.checks.shape import device_shape
from harness.scenario import ScenarioError, load
from harness.sweeps.parallel import compare_build_orders
from hostapi import Capability, HostWrapper


def _load(name: str, fast: bool = False):
    sc = load(os.path.join(ROOT, "scenarios", f"{name}.yaml"))
    return sc.fast_path() if fast else sc


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("name", ["cold-cache", "warm-cache", "termination-cleanup", "seed-two-instances",
                                  "regressions/e11-partial-build-fails"])
def test_built_at_once_the_node_has_the_same_devices_before_every_step(name, fast):
    if fast and _load(name).engine_path == "compatible":
        pytest.skip("names NC 3.3's commands")
    comparison = compare_build_orders(_load(name, fast), 3)
    assert comparison.ok, comparison.line(3)
    one = [c.text for c in comparison.one_at_a_time.recorder.commands]
    at_once = [c.text for c in comparison.at_once.recorder.commands]
    assert one != at_once                      # really interleaved, not the same order again
    # the same commands, in another order: a store that a sibling holds is waited for, so no artifact is
    # given up and built again (with NC's 0.5 s, cold-cache made its root's snapshot twice); where a build
    # fails (e11's faults), its siblings go on to their end, so more commands run
    if not any(s.kind == "inject_fault" for s in comparison.at_once.scenario.steps):
        assert len(one) == len(at_once)


def test_the_interleaving_is_the_same_every_run():
    from harness.scenario.runner import run_scenario
    runs = []
    for _ in range(2):
        sc = _load("warm-cache", fast=True)
        sc.node = dict(sc.node, build_workers=3)
        sc.steps = [s for s in sc.steps if s.kind not in ("expect", "expect_commands")]
        result = run_scenario(sc)
        assert result.ok, result.failure
        runs.append(result.events())
    assert runs[0] == runs[1]
    events = runs[0]
    ramdisk_download = next(i for i, e in enumerate(events) if "/eri-0B4C9D12.img " in e)
    kernel_copied = next(i for i, e in enumerate(events) if "chmod 0664" in e and "eki-6A7F3B21" in e)
    # one at a time, the kernel's work copy is done before the ramdisk is fetched; at once, it is not
    assert ramdisk_download < kernel_copied


def test_a_difference_in_devices_is_reported_with_the_step():
    from harness.sweeps import parallel
    sc = _load("cold-cache")
    real = parallel.device_shape
    calls = []

    def shifted(state):
        calls.append(1)
        text = real(state)
        return text.replace("zero", "error") if len(calls) > 3 else text
    parallel.device_shape = shifted
    try:
        comparison = compare_build_orders(sc, 2)
    finally:
        parallel.device_shape = real
    assert not comparison.ok and "device shape differs" in comparison.line(2)


def test_device_shape_names_loops_by_file_and_dm_devices_by_name():
    state = {"losetup -a": "/dev/loop3: [25104]:<ino> (/w/a.blocks)\n/dev/loop0: [25104]:<ino> (/c/b/blocks)\n",
             "dmsetup ls": "x-back\t(253:4)\nx\t(253:7)\n",
             "dmsetup table": "x: 0 8 linear 253:4 0\nx-back: 0 8 snapshot 7:0 /dev/loop3 N 16\n",
             "dmsetup info -c": "Name Maj Min Stat Open Targ Event UUID\nx 253 7 L--w 0 1 0\nx-back 253 4 L--w 1 1 3\n"}
    renumbered = {"losetup -a": "/dev/loop1: [25104]:<ino> (/c/b/blocks)\n/dev/loop5: [25104]:<ino> (/w/a.blocks)\n",
                  "dmsetup ls": "x-back\t(253:0)\nx\t(253:1)\n",
                  "dmsetup table": "x: 0 8 linear 253:0 0\nx-back: 0 8 snapshot 7:1 /dev/loop5 N 16\n",
                  "dmsetup info -c": "Name Maj Min Stat Open Targ Event UUID\nx 253 1 L--w 0 1 0\n"
                                     "x-back 253 0 L--w 1 1 9\n"}
    shape = device_shape(state)
    assert shape == device_shape(renumbered)
    assert "x-back: 0 8 snapshot loop(/c/b/blocks) loop(/w/a.blocks) N 16" in shape
    assert "x: 0 8 linear dm(x-back) 0" in shape
    swapped = dict(renumbered, **{"dmsetup table": "x: 0 8 linear 253:0 0\nx-back: 0 8 snapshot 7:5 /dev/loop1 N 16\n"})
    assert device_shape(swapped) != shape     # origin and store swapped is another stack


def test_turns_run_one_task_at_a_time_and_pass_the_turn_at_each_checkpoint():
    turns = Turns(3)
    order, running, overlap = [], [0], []

    def task(name):
        def run():
            for step in range(3):
                running[0] += 1
                overlap.append(running[0])
                order.append(f"{name}{step}")
                running[0] -= 1
                turns.checkpoint()
            return name
        return run
    outcomes = turns.run([task("a"), task("b"), task("c")])
    assert outcomes == [(True, "a"), (True, "b"), (True, "c")]
    assert order == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
    assert max(overlap) == 1


def test_turns_nest_and_a_lock_held_across_a_checkpoint_makes_the_other_task_wait_its_turn():
    turns = Turns(2)
    lock = threading.Lock()
    order = []

    def holder():
        with turns.hold(lock):
            order.append("hold")
            turns.checkpoint()
            order.append("still holding")
        turns.checkpoint()

    def waiter():
        with turns.hold(lock):
            order.append("got it")

    def parent():
        return turns.run([holder, waiter])
    outcomes = turns.run([parent, lambda: order.append("sibling")])
    assert [ok for ok, _ in outcomes] == [True, True]
    assert order.index("still holding") < order.index("got it")


def test_a_failing_task_is_reported_in_its_place_and_a_killed_one_kills_the_caller():
    for workers in (Sequential(), Threads(2), Turns(2)):
        def boom():
            raise ValueError("no")
        outcomes = workers.run([lambda: 1, boom])
        assert outcomes[0] == (True, 1) and not outcomes[1][0] and isinstance(outcomes[1][1], ValueError)

        class Killed(BaseException):
            pass

        def killed():
            raise Killed()
        with pytest.raises(Killed):
            workers.run([killed, lambda: 2])


def test_scenarios_that_assume_one_build_at_a_time_are_skipped(capsys):
    from harness.cli.main import main
    assert main(["run", os.path.join(ROOT, "scenarios", "regressions", "e17-failed-metadata-writes.yaml"),
                 "--build-workers", "3"]) == 0
    assert "SKIP e17-failed-metadata-writes: its faults or loop counts assume one build at a time" in \
        capsys.readouterr().out


def test_bad_build_order_and_worker_counts_are_one_line(tmp_path, capsys):
    from harness.cli.main import main
    text = open(os.path.join(ROOT, "scenarios", "cold-cache.yaml")).read()
    bad = tmp_path / "bad.yaml"
    bad.write_text("build_order: whenever\n" + text)
    with pytest.raises(ScenarioError, match="build_order: 'any' or 'sequential'"):
        load(str(bad))
    bad.write_text(text.replace("  seed: 7\n", "  seed: 7\n  build_workers: 0\n"))
    with pytest.raises(ScenarioError, match="build_workers"):
        load(str(bad))
    assert main(["run", os.path.join(ROOT, "scenarios", "cold-cache.yaml"), "--build-workers", "0"]) == 2
    assert capsys.readouterr().err == "nc-harness run: --build-workers: 1 to 16\n"


class _WallClockSim(HostWrapper):
    """The simulator behind a host without a virtual clock: the runner then gives the engine a wall clock, so the
    build workers are real threads, in whatever order the OS runs them."""

    @property
    def capabilities(self):
        return self.inner.capabilities - {Capability.VIRTUAL_CLOCK}


@pytest.mark.parametrize("fast", [False, True])
def test_real_threads_on_a_wall_clock_build_the_same_devices(fast):
    from harness.backends.sim import SimHost
    from harness.scenario.runner import run_scenario, snapshot
    shapes = []
    for workers in (1, 3):
        sc = _load("cold-cache", fast)
        sc.node = dict(sc.node, build_workers=workers)
        sc.steps = sc.steps[:next(i for i, s in enumerate(sc.steps) if s.kind == "terminate_instance")]
        sc.steps = [s for s in sc.steps if s.kind not in ("expect", "expect_commands")]
        sim = SimHost(dialect=sc.dialect, seed=sc.seed)
        host = _WallClockSim(sim) if workers > 1 else sim
        result = run_scenario(sc, host=host, leak_check=False)
        assert result.ok, result.failure
        assert type(result.controller.io.workers) is (Threads if workers > 1 else Sequential)
        shapes.append(device_shape(snapshot(sim)))
    assert shapes[0] == shapes[1] and "loop(" in shapes[0]


def test_determinism_check_runs_the_same_builds_again(capsys):
    from harness.cli.main import main
    for extra in ([], ["--fast-path"], ["--fast-path", "--build-workers", "3"]):
        assert main(["run", os.path.join(ROOT, "scenarios", "cold-cache.yaml"), "--determinism-check", *extra]) == 0
        assert capsys.readouterr().out.rstrip().endswith("twice")
