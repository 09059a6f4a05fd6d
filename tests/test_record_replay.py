"""`nc-harness record` -> `nc-harness replay --check --expect`: an engine run reproduced command by command."""
import os

import pytest
from conftest import ROOT

from harness.cli.main import main
from harness.replay.trace import escape_printf_b, parse_transcript, unescape_printf_b


@pytest.mark.parametrize("name", ["cold-cache", "warm-cache", "termination-cleanup"])
def test_recorded_engine_run_replays_identically(name, tmp_path, capsys):
    trace = tmp_path / f"{name}.log"
    assert main(["record", os.path.join(ROOT, "scenarios", f"{name}.yaml"), "-o", str(trace)]) == 0
    assert (tmp_path / f"{name}.expect.yaml").exists()
    assert main(["replay", str(trace), "--check", "--expect", str(tmp_path / f"{name}.expect.yaml")]) == 0, \
        capsys.readouterr().err


def test_replay_expect_reports_a_wrong_state(tmp_path, capsys):
    trace = os.path.join(ROOT, "scenarios", "traces", "seed-000.log")
    expect = tmp_path / "e.yaml"
    expect.write_text("dialect: el6\nthen:\n  - command: losetup -a\n    stdout: ''\n")
    assert main(["replay", trace, "--dialect", "el6", "--expect", str(expect)]) == 1
    assert "losetup -a: line 1: expected '<end>', got '/dev/loop0: [0803]:" in capsys.readouterr().err


def test_write_expect_then_expect_round_trip(tmp_path):
    trace = os.path.join(ROOT, "scenarios", "traces", "seed-000.log")
    expect = tmp_path / "w.yaml"
    assert main(["replay", trace, "--dialect", "el6", "--then", "dmsetup ls", "--write-expect", str(expect)]) == 0
    assert main(["replay", trace, "--dialect", "el6", "--expect", str(expect)]) == 0


def test_stdin_lines_round_trip_bytes():
    for text in ["a\\b\nc", "\udcff\x01\x7f", "é", "\\0123"]:
        assert unescape_printf_b(escape_printf_b(text)) == text
    cmds = parse_transcript("$ tee /x\n# (stdin) a\\nb\nab\n# (no newline at end of stdout)\n# rc=0\n")
    assert cmds[0].stdin == "a\nb" and cmds[0].expected.stdout_text == "ab"


def test_diff_states_and_traces(tmp_path, capsys):
    uml = os.path.join(ROOT, "tests", "fixtures", "uml")
    assert main(["diff", os.path.join(uml, "phase2-emi-clone"), os.path.join(uml, "phase2-emi-clone")]) == 0
    assert main(["diff", os.path.join(uml, "phase2-emi-clone"), os.path.join(uml, "phase3a-ephemeral-swap")]) == 1
    out = capsys.readouterr().out
    assert "/dev/loop2: unexpected (on /disk1/storage/eucalyptus/instances/cache/prt-03208ext3-bac292b9/blocks)" in out
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("10:00:00 losetup -f\n10:00:01 dmsetup ls\n")
    b.write_text("10:00:00 losetup -f\n10:00:01 dmsetup table\n")
    assert main(["diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{a}:2 / {b}:2: replace (after: losetup -f)", "- dmsetup ls", "+ dmsetup table"]
    assert main(["diff", str(a), os.path.join(uml, "phase2-emi-clone")]) == 2


def test_list_verb(capsys):
    assert main(["list", os.path.join(ROOT, "scenarios")]) == 0
    out = capsys.readouterr().out
    assert "cold-cache  (" in out and "run i-1A2B3C4D, expect_commands" in out
    assert "seed-000.log  (trace " in out and "expectation" in out


def test_blobstore_records_save_load_and_diff(tmp_path):
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from engine_fixtures import Node

    from harness.checks import state
    node = Node()
    node.run("i-A")
    before = state.capture(node.host, node.nc)
    state.save(before, str(tmp_path / "a"))
    node.nc.terminate_instance("i-A")
    after = state.capture(node.host, node.nc)
    state.save(after, str(tmp_path / "b"))
    loaded = state.load(str(tmp_path / "a"))
    assert loaded.blobs == before.blobs and any(k.startswith("work:U1/i-A/dsk-") for k in loaded.blobs)
    lines = state.diff(state.load(str(tmp_path / "a")), state.load(str(tmp_path / "b")))
    assert any(line.startswith("blob work:U1/i-A/dsk-") and line.endswith(": missing") for line in lines)
    assert any(line.startswith("blob cache:emi-33333333-") and ": refs: expected [" in line for line in lines)
