"""Concurrent operations (issue 22): the `concurrently` step, its schedules and pinned races, the regressions it
made writable, and `explore --interleavings` finding a planted bug."""
import os

import pytest
import yaml

import engine.blobstore.blob as blob
from harness.cli.main import main
from harness.explore.interleavings import explore_interleavings
from harness.scenario.loader import load, parse
from harness.scenario.registry import ScenarioError
from harness.scenario.runner import run_scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSY = os.path.join(ROOT, "scenarios", "concurrent", "busy-node.yaml")
REGRESSIONS = ["c01-terminate-during-build", "c02-cleanup-waits-out-a-slow-lock-holder",
               "c03-imager-and-purge-share-the-cache", "c04-imager-fsck-keeps-what-nc-maps",
               "c05-terminate-and-launch-share-a-refs-file", "s01-cache-shared-between-nodes"]
LONG = os.environ.get("NC_EXPLORE") == "1"

HEAD = """name: t
node: {seed: 3, cache_mb: 60}
images:
  - {id: eki-00000T01, size: 1048576, content: pattern}
  - {id: emi-0000000T, size: 8388608, content: ext3}
steps:
  - run_instance: {id: i-00000001, user: U, vbrs: [kernel:eki-00000T01:-1:none:none:staged,
                   machine:emi-0000000T:-1:none:sda1:staged]}
"""
TWO = HEAD + """  - concurrently:
      SCHEDULE
      operations:
        - name: go
          run_instance: {id: i-00000002, user: U, vbrs: [kernel:eki-00000T01:-1:none:none:staged,
                         machine:emi-0000000T:-1:none:sda1:staged]}
        - name: stop
          terminate_instance: {id: i-00000001}
        - name: purge
          purge_cache: {}
  - terminate_instance: {id: i-00000002}
  - check_invariants: {terminated: [i-00000001, i-00000002]}
"""


def scenario(schedule: str = ""):
    return parse(TWO.replace("      SCHEDULE\n", f"      {schedule}\n" if schedule else ""), "t.yaml")


def test_a_seed_is_one_interleaving_byte_for_byte():
    a, b = run_scenario(scenario("schedule: {seed: 4}")), run_scenario(scenario("schedule: {seed: 4}"))
    assert a.ok and b.ok, (a.failure, b.failure)
    assert a.digest() == b.digest()
    others = {run_scenario(scenario(f"schedule: {{seed: {s}}}")).digest() for s in range(5, 9)}
    assert len(others | {a.digest()}) > 1, "different seeds never interleaved differently"


def test_a_run_written_as_switches_replays_exactly():
    pct = run_scenario(scenario("schedule: {seed: 6, preemptions: 3}"))
    switches = pct.schedules[0].switches()
    assert switches, "PCT chose nothing the default order would not have"
    flow = yaml.safe_dump(switches, default_flow_style=True).strip()
    replay = run_scenario(scenario(f"schedule: {{switches: {flow}}}"))
    assert replay.ok and [c.text for c in replay.recorder.commands] == [c.text for c in pct.recorder.commands]


def test_operations_interleave_command_by_command():
    result = run_scenario(scenario("schedule: {seed: 1, preemptions: 4}"))
    assert result.ok, result.failure
    assert len(result.schedules[0].decisions) > 10


@pytest.mark.parametrize("operations, message", [
    ("[{run_instance: {id: i-1, user: U, vbrs: []}}]", "two or more"),
    ("[{expect: {}}, {fsck: {}}]", "'expect' cannot run concurrently"),
    ("[{fsck: {}, purge_cache: {}}, {fsck: {}}]", "exactly one step kind"),
    ("[{name: a, fsck: {}}, {name: a, fsck: {}}]", "name 'a' is taken"),
    ("[{fsck: {}, hold: {at: x, until: nobody, finishes: true}}, {fsck: {}}]", "until 'nobody' is not another"),
    ("[{fsck: {}, hold: {at: '(', seconds: 1}}, {fsck: {}}]", "bad regex"),
    ("[{fsck: {}, hold: {at: x, until: op2}}, {fsck: {}}]", "one of reaches"),
    ("[{restart_node: {}}, {fsck: {}}]", "a restart_node operation"),
    ("[{node_command: {argv: [true]}}, {fsck: {}}]", "its process cannot be 'nc'"),
    ("[{fsck: {}}, {fsck: {}}]\n      schedule: {switches: [[0, op1]]}", "switches[0]"),
    ("[{fsck: {}}, {fsck: {}}]\n      schedule: {seed: -1}", "seed: an integer of at least 0"),
])
def test_bad_concurrent_steps_get_one_line_errors(operations, message):
    text = HEAD + f"  - concurrently:\n      operations: {operations}\n"
    with pytest.raises(ScenarioError) as exc:
        parse(text, "bad.yaml")
    assert message in str(exc.value) and "bad.yaml: step 2" in str(exc.value), str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_hold_that_is_never_reached_fails_the_step():
    text = TWO.replace("        - name: stop\n", "        - name: stop\n          hold: {at: nothing-like-this, "
                       "until: go, finishes: true}\n").replace("      SCHEDULE\n", "")
    result = run_scenario(parse(text, "t.yaml"))
    assert not result.ok and "never reached" in result.failure, result.failure


def test_a_hold_nothing_can_release_is_let_go_and_reported():
    # the launch waits for the terminate to finish, and the terminate (of the launch's own instance) waits for the
    # launch: the schedule lets the hold go rather than hang, and the step says so
    text = HEAD + """  - concurrently:
      schedule: {switches: []}
      operations:
        - name: go
          hold: {at: "dmsetup create", until: stop, finishes: true}
          run_instance: {id: i-00000002, user: U, expect_error: cancelled, vbrs: [
                         kernel:eki-00000T01:-1:none:none:staged, machine:emi-0000000T:-1:none:sda1:staged]}
        - name: stop
          terminate_instance: {id: i-00000002}
"""
    result = run_scenario(parse(text, "t.yaml"))
    assert not result.ok and "nothing else could run" in result.failure, result.failure


@pytest.mark.parametrize("fast", [False, True], ids=["nc-path", "fast-path"])
@pytest.mark.parametrize("name", REGRESSIONS)
def test_concurrency_regressions_pass(name, fast):
    sc = load(os.path.join(ROOT, "scenarios", "regressions", f"{name}.yaml"))
    result = run_scenario(sc.fast_path() if fast else sc)
    assert result.ok, result.failure


def _purge_without_the_victims_lock(store, blob_id):
    """The planted bug: the purge deletes what its scan found unused, without taking the blob's lock first."""
    if store.info(blob_id).mapped:
        return False
    blob.delete_blob_state(store, blob_id)
    return True


@pytest.mark.parametrize("fast", [False, True], ids=["nc-path", "fast-path"])
def test_the_imager_regression_fails_with_the_purge_bug_planted(monkeypatch, fast):
    sc = load(os.path.join(ROOT, "scenarios", "regressions", "c03-imager-and-purge-share-the-cache.yaml"))
    monkeypatch.setattr(blob, "purge_victim", _purge_without_the_victims_lock)
    result = run_scenario(sc.fast_path() if fast else sc)
    assert not result.ok and "imager" in result.failure, result.failure


def test_explore_finds_the_planted_purge_bug_within_200_schedules(monkeypatch, tmp_path):
    monkeypatch.setattr(blob, "purge_victim", _purge_without_the_victims_lock)
    report = explore_interleavings(BUSY, schedules=200, preemptions=2, seed=0, save_dir=str(tmp_path),
                                   stop_at_first=True)
    assert report.failures, "200 schedules and the planted bug was not found"
    assert len(report.outcomes) <= 200 and report.saved
    saved = load(report.saved[0])
    assert not run_scenario(saved).ok, "the saved schedule does not reproduce the failure"
    monkeypatch.undo()
    assert run_scenario(load(report.saved[0])).ok, "the saved scenario fails without the bug"


def test_explore_cli_runs_schedules_and_refuses_a_scenario_without_concurrency(capsys, tmp_path):
    assert main(["explore", "--interleavings", BUSY, "--schedules", "6", "--save-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("PASS busy-node: 6 schedules, every invariant held")
    assert main(["explore", "--interleavings", os.path.join(ROOT, "scenarios", "cold-cache.yaml")]) == 2
    assert "no concurrently step" in capsys.readouterr().err


def test_a_small_space_is_enumerated_whole(tmp_path):
    text = HEAD + """  - concurrently:
      operations:
        - node_command: {argv: [touch, /tmp/a]}
          process: one
        - node_command: {argv: [touch, /tmp/b]}
          process: two
"""
    path = tmp_path / "small.yaml"
    path.write_text(text)
    report = explore_interleavings(str(path), schedules=50, preemptions=2)
    assert report.exhaustive and not report.failures and len(report.outcomes) < 50


@pytest.mark.skipif(not LONG, reason="1,000 schedules take a few minutes: NC_EXPLORE=1 (CI's long stage)")
@pytest.mark.parametrize("series", range(4))
def test_a_thousand_schedules_of_a_busy_node_hold_every_invariant(tmp_path, series):
    """Four series of 250 (seeds 0-3: no schedule twice), so xdist spreads the 1,000 over the cores."""
    report = explore_interleavings(BUSY, schedules=250, preemptions=2, seed=series, save_dir=str(tmp_path))
    assert not report.failures, report.line()
    assert len(report.outcomes) == 250


def _refs_lock_taken_out(monkeypatch):
    import contextlib
    monkeypatch.setattr(blob, "store_held", lambda store: contextlib.nullcontext())


def _safe_points_taken_out(monkeypatch):
    import engine.controller
    import engine.implement
    monkeypatch.setattr(engine.implement, "safe_point", lambda ctx: None)
    monkeypatch.setattr(engine.controller, "safe_point", lambda ctx: None)


def _cleanup_retries_taken_out(monkeypatch):
    import engine.controller
    monkeypatch.setattr(engine.controller, "CLEANUP_PATIENCE", 0.0)


def _foreign_refs_taken_for_dead(monkeypatch):
    import engine.recovery

    def registry_only(store, ref):
        other = store.registry.get(ref.partition(" ")[0])
        return other is not None and store.io.exists(other.path_of(ref.partition(" ")[2], "blocks"))
    monkeypatch.setattr(engine.recovery, "ref_alive", registry_only)


@pytest.mark.parametrize("fast", [False, True], ids=["nc-path", "fast-path"])
@pytest.mark.parametrize("name, take_out", [
    ("c01-terminate-during-build", _safe_points_taken_out),
    ("c02-cleanup-waits-out-a-slow-lock-holder", _cleanup_retries_taken_out),
    ("c04-imager-fsck-keeps-what-nc-maps", _foreign_refs_taken_for_dead),
    ("c05-terminate-and-launch-share-a-refs-file", _refs_lock_taken_out),
])
def test_each_regression_fails_with_its_fix_taken_out(monkeypatch, name, take_out, fast):
    sc = load(os.path.join(ROOT, "scenarios", "regressions", f"{name}.yaml"))
    take_out(monkeypatch)
    result = run_scenario(sc.fast_path() if fast else sc)
    assert not result.ok, f"{name} passes without its fix"


def test_diff_run_compares_concurrent_scenarios_by_device_shape():
    """Two interleavings (as a real node and the simulator would differ): the same shapes, though the loop
    numbers and the command order differ; a run that leaves other devices is a difference."""
    from harness.cli.diff_run import compare_runs
    path = os.path.join(ROOT, "scenarios", "concurrent", "launches-and-a-terminate.yaml")
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    runs = []
    for seed in (1, 2):
        for step in doc["steps"]:
            if "concurrently" in step:
                step["concurrently"]["schedule"] = {"seed": seed, "preemptions": 3}
        runs.append(run_scenario(parse(yaml.safe_dump(doc), path)))
    assert [c.text for c in runs[0].recorder.commands] != [c.text for c in runs[1].recorder.commands]
    assert compare_runs(*runs, shapes=True) == []
    doc["steps"] = doc["steps"][:2]        # the second run stops before its terminates: other devices are left
    shorter = run_scenario(parse(yaml.safe_dump(doc), path), leak_check=False)
    assert compare_runs(runs[0], shorter, shapes=True)
