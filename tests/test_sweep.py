"""The fault sweep: each recorded engine command fails in turn; rollback and teardown are judged."""
import os

from conftest import ROOT

from engine import diskutil
from harness.cli.main import main
from harness.sweeps.faults import as_argv_line, fault_for, sweep_faults

COLD = os.path.join(ROOT, "scenarios", "cold-cache.yaml")


def test_recorded_text_is_matched_as_the_node_sees_the_argv():
    assert as_argv_line('echo "0 63 zero" | /sbin/dmsetup create x') == "/sbin/dmsetup create x"
    assert as_argv_line("/sbin/parted --script /dev/x mkpart primary  63s 99s") == \
        "/sbin/parted --script /dev/x mkpart primary 63s 99s"
    commands = ["/sbin/losetup -f", "/bin/cp a b", "/sbin/losetup -f"]
    assert fault_for(commands, 3) == (r"^/sbin/losetup\ \-f$", 2)


def test_selected_points_of_cold_cache_roll_back_cleanly():
    report = sweep_faults(COLD, only=[1, 36, 59, 75, 90])
    assert report.line() == "fault points: 5, clean: 5, leaks: 0, wrong state: 0"
    assert all(p.detail in ("run i-1A2B3C4D failed cleanly", "tolerated") for p in report.points)
    assert report.points[2].detail == "run i-1A2B3C4D failed cleanly"      # parted mklabel: no retry


def test_the_sweep_catches_a_rollback_that_leaves_devices(monkeypatch):
    """With NC's single umount, a failed unmount after key injection strands the root's devices: point 36."""
    monkeypatch.setattr(diskutil, "UMOUNT_TRIES", 1)
    report = sweep_faults(COLD, only=[36])
    assert report.line() == "fault points: 1, clean: 0, leaks: 0, wrong state: 1"
    assert report.points[0].command.startswith("umount /tmp/euca-mount-")


def test_cli_summary_and_exit_status(capsys):
    assert main(["sweep", COLD, "--faults", "--points", "36,59"]) == 0
    assert capsys.readouterr().out == "cold-cache: fault points: 2, clean: 2, leaks: 0, wrong state: 0\n"
    assert main(["sweep", "/nonexistent.yaml", "--faults"]) == 2
    assert capsys.readouterr().err.startswith("nc-harness sweep: /nonexistent.yaml: ")


# crash sweeps ------------------------------------------------------------------------------------------------
TERM = os.path.join(ROOT, "scenarios", "termination-cleanup.yaml")


def test_a_loop_line_with_a_deleted_file_names_the_file():
    m = diskutil.LOSETUP_LINE.match("/dev/loop0: [25104]:12 (/var/lib/x/cache/eki-1/blocks (deleted))")
    assert m.group(2) == "/var/lib/x/cache/eki-1/blocks (deleted)"
    assert diskutil.same_file(m.group(2), "/var/lib/x/cache/eki-1/blocks")


def test_crash_program_restarts_checks_and_retries():
    import yaml

    from harness.sweeps.crashes import crash_program
    with open(TERM) as fh:
        doc = yaml.safe_load(fh)
    # a crash in the second launch: the first instance is adopted, the second launched again, both terminated
    prog = crash_program(doc, 2, "^/sbin/losetup\\ \\-f$", 18, reboot=False)
    kinds = [next(iter(s)) for s in prog["steps"]]
    assert kinds == ["inject_fault", "run_instance", "run_instance", "restart_node", "check_invariants",
                     "expect_instances", "run_instance", "terminate_instance", "terminate_instance",
                     "check_invariants", "expect_instances"]
    assert prog["steps"][5] == {"expect_instances": {"running": ["i-1A2B3C4D"]}}
    assert prog["steps"][0]["inject_fault"] == {"match": "^/sbin/losetup\\ \\-f$", "nth": 18, "crash": True,
                                                "after": True}
    # after a reboot nothing is adopted; a crash in a terminate leaves that instance gone
    prog = crash_program(doc, 3, "^x$", 1, reboot=True)
    assert {"restart_node": {"reboot": True}} in prog["steps"]
    assert {"expect_instances": {"running": []}} in prog["steps"]
    assert not any("terminate_instance" in s for s in prog["steps"][4:])


def test_crash_points_where_the_kernel_changed_before_the_metadata_recover_cleanly():
    """k=2: a loop attached, its .loopback unwritten; k=58: the disk's dm table over unrecorded snapshots;
    each also with a host reboot there."""
    from harness.sweeps.crashes import sweep_crashes
    report = sweep_crashes(COLD, only=[2, 58])
    assert report.line() == "fault points: 4, clean: 4, leaks: 0, wrong state: 0"
    assert [p.command.endswith("[reboot]") for p in report.points] == [False, True, False, True]


def test_the_crash_sweep_catches_recovery_that_misses_unrecorded_devices(monkeypatch, tmp_path, capsys):
    """Planted: recovery as it was before this sweep existed, with fsck before the orphan sweep and a losetup
    parser that loses deleted files. The saved program reproduces the failure on its own."""
    import re

    from engine import controller, recovery
    from harness.sweeps.crashes import sweep_crashes
    calls = []
    real = controller.sweep_orphans
    monkeypatch.setattr(controller, "sweep_orphans",
                        lambda *a: real(*a) if calls.append(1) or len(calls) % 2 == 0 else [])
    report = sweep_crashes(COLD, only=[58], reboots=False)
    assert report.count("clean") == 0, report.points[0].detail
    monkeypatch.setattr(recovery, "_LOSETUP_LINE", re.compile(r"^(/dev/loop\d+): .*\((.*)\)\s*$"))
    report = sweep_crashes(COLD, only=[2], reboots=False)
    assert report.line() == "fault points: 1, clean: 0, leaks: 1, wrong state: 0"
    assert "(deleted)" in report.points[0].detail
    assert main(["sweep", COLD, "--crashes", "--no-reboots", "--points", "2", "--save", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    saved = tmp_path / "cold-cache-k2.yaml"
    assert "k=2 leak" in out and f"reproduce: nc-harness run {saved}" in out
    assert main(["run", str(saved)]) == 1
    assert "leak" in capsys.readouterr().out
    monkeypatch.undo()
    assert main(["run", str(saved)]) == 0


def test_a_crash_while_cloning_from_a_shared_cache_blob_leaves_it_usable():
    """termination-cleanup k=85: the second launch dies holding the cache blob the first instance maps; the
    blob's open mark is stale after the restart and fsck clears it."""
    from harness.sweeps.crashes import sweep_crashes
    report = sweep_crashes(TERM, only=[85])
    assert report.line() == "fault points: 2, clean: 2, leaks: 0, wrong state: 0"


def test_a_failed_imager_run_leaves_nothing_its_cache_does_not_own():
    from harness.sweeps.faults import sweep_faults
    # 29: the disk's header snapshot, 43: grub-install into the MBR, 47: extract's dd (its .partial removed)
    report = sweep_faults(os.path.join(ROOT, "scenarios", "imager-boot-disk.yaml"), only=[29, 43, 47])
    assert [p.outcome for p in report.points] == ["clean"] * 3, [p.detail for p in report.points]
    assert all("failed cleanly" in p.detail for p in report.points)


def test_a_killed_imager_is_taken_over_by_the_next_run_and_leaves_nothing(tmp_path):
    from harness.sweeps.crashes import sweep_crashes
    # prepare's boot partition snapshot (a device made, its metadata not yet written), the disk's table,
    # grub-install (a loop over the boot partition and its mount left), extract's rename (the file whole: the
    # run again refuses it), and the purge mid-way
    report = sweep_crashes(os.path.join(ROOT, "scenarios", "imager-boot-disk.yaml"), only=[16, 31, 43, 48, 51])
    assert [p.outcome for p in report.points] == ["clean"] * 10, [p.detail for p in report.points]


def test_crash_sweeps_refuse_image_tool_scenarios_in_one_line(capsys, tmp_path):
    from harness.cli.main import main
    path = tmp_path / "tools.yaml"
    path.write_text("name: tools\nsteps:\n  - image: {args: [zerofree, /x.img]}\n")
    assert main(["sweep", str(path), "--crashes"]) == 2
    assert "crash sweeps do not cover image steps" in capsys.readouterr().err




def _all_command_points():
    import yaml

    from harness.scenario import load
    from harness.scenario.runner import run_scenario
    from harness.sweeps.points import all_command_points
    base = run_scenario(load(COLD))
    with open(COLD, encoding="utf-8") as fh:
        kinds = {i + 1: next(iter(raw)) for i, raw in enumerate(yaml.safe_load(fh)["steps"])}
    return base, all_command_points(base.recorder.issued, base.steps, kinds)


def test_all_command_crash_points_include_the_engines_own_metadata_writes():
    """Every command the engine ran that changes something, in launch and terminate steps; reads are left out
    (a crash after one leaves what a crash after the command before it leaves); only the final record of a
    launch counts as complete."""
    base, points = _all_command_points()
    issued = base.recorder.issued
    lines = [issued[k - 1] for k, *_ in points]
    assert len(points) > 3 * len(base.recorder.commands)
    assert not any(line.split()[0] in ("cat", "test", "stat") for line in lines)
    assert any(line.startswith("tee ") and line.endswith("/sig") for line in lines)
    assert any(line.startswith("ln -s ") for line in lines)
    complete = [issued[k - 1] for k, _, _, _, done in points if done]
    assert complete and all("instance.xml" in line for line in complete)


def test_crashes_between_metadata_writes_recover_cleanly():
    """Regression e15's windows as sweep points: after a new cache blob's sig, after the instance directory is
    made, after a terminate removed instance.xml; each also with a reboot there."""
    from harness.sweeps.crashes import sweep_crashes
    base, points = _all_command_points()
    issued = base.recorder.issued
    wanted = [next(k for k, *_ in points if issued[k - 1].startswith("tee ") and "/cache/emi-" in issued[k - 1]
                   and issued[k - 1].endswith("/sig")),
              next(k for k, *_ in points if issued[k - 1].startswith("mkdir -p ") and "/i-" in issued[k - 1]),
              next(k for k, *_ in points if issued[k - 1].startswith("rm -rf ") and
                   issued[k - 1].endswith("/instance.xml"))]
    report = sweep_crashes(COLD, only=wanted, all_commands=True)
    assert report.line() == "fault points: 6, clean: 6, leaks: 0, wrong state: 0", \
        [p.detail for p in report.points if p.outcome != "clean"]


def test_crash_sweeps_refuse_scenarios_that_kill_the_engine_themselves(capsys):
    path = os.path.join(ROOT, "scenarios", "regressions", "e14-crash-before-metadata.yaml")
    assert main(["sweep", path, "--crashes", "--all-commands"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kills the engine itself" in err


def test_faults_in_metadata_writes_roll_back_cleanly():
    """`--faults --all-commands`: the engine's own metadata commands fail too. The points regression e17 keeps:
    the instance directory's mkdir, a loopback record written after an attach, a store lock's release, and
    a terminate's refs removal; each leaves a clean node (before the fixes: a stuck instance, a leaked loop,
    a lock that timed out, a cache blob kept in use)."""
    from harness.sweeps.faults import sweep_faults
    base, points = _all_command_points()
    issued = base.recorder.issued
    wanted = [next(k for k, *_ in points if issued[k - 1].startswith("mkdir -p ") and "/i-" in issued[k - 1]),
              next(k for k, *_ in points
                   if issued[k - 1].startswith("tee ") and issued[k - 1].endswith("/loopback")),
              next(k for k, *_ in points
                   if issued[k - 1] == "rm -f /var/lib/eucalyptus/instances/work/.blobstore.owner"),
              max(k for k, *_ in points if issued[k - 1].startswith("rm -f ") and issued[k - 1].endswith("/refs"))]
    report = sweep_faults(COLD, only=wanted, all_commands=True)
    assert report.line() == "fault points: 4, clean: 4, leaks: 0, wrong state: 0", \
        [p.detail for p in report.points if p.outcome != "clean"]
    assert [p.command for p in report.points] == [issued[k - 1] for k in wanted]
