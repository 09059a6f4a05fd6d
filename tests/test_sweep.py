"""The fault sweep: each recorded engine command fails in turn; rollback and teardown are judged."""
import os

from conftest import ROOT

from engine import diskutil
from harness.cli.main import main
from harness.sweep import as_argv_line, fault_for, sweep_faults

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
