"""What a new user met (issue 20, section 3): each rough edge, with a test that failed on the code before."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from harness.cli.main import build_parser, main
from harness.scenario import ScenarioError, parse

COLD = os.path.join(ROOT, "scenarios", "cold-cache.yaml")


def _walk(parser, name="nc-harness"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb, sub in action.choices.items():
                yield from _walk(sub, f"{name} {verb}")
        elif not isinstance(action, argparse._HelpAction):
            yield name, action


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("nc-harness ")


def test_every_flag_and_positional_has_a_help_line():
    missing = [f"{name} {action.option_strings or action.dest}" for name, action in _walk(build_parser())
               if not action.help]
    assert missing == []


def test_every_backend_flag_names_every_backend():
    from harness.backends import BACKENDS
    helps = [action.help for name, action in _walk(build_parser()) if "--backend" in action.option_strings]
    assert len(helps) >= 3
    for text in helps:
        for backend in BACKENDS:
            assert (backend.form or backend.spec) in text, text


def test_replay_takes_the_dialect_of_its_expectation_file(tmp_path, capsys):
    trace = tmp_path / "t.log"
    trace.write_text("truncate -s 1M /root/f\nlosetup /dev/loop0 /root/f\n")
    # el6's root filesystem is device 8:3 (`[0803]`); debian12's prints `[25104]`
    expect = tmp_path / "t.expect.yaml"
    expect.write_text(yaml.safe_dump({"dialect": "el6", "then": [{"command": "losetup -a", "ignore": ["inodes"],
                                                                  "stdout": "/dev/loop0: [0803]:1 (/root/f)\n"}]}))
    assert main(["replay", str(trace), "--expect", str(expect)]) == 0, capsys.readouterr().err
    written = tmp_path / "w.expect.yaml"
    assert main(["replay", str(trace), "--expect", str(expect), "--write-expect", str(written)]) == 0
    assert yaml.safe_load(written.read_text())["dialect"] == "el6"


def test_two_recordings_of_one_scenario_and_seed_are_byte_identical(tmp_path):
    for name in ("a", "b"):
        assert main(["record", COLD, "-o", str(tmp_path / f"{name}.log")]) == 0
    a, b = (tmp_path / "a.log").read_bytes(), (tmp_path / "b.log").read_bytes()
    assert b"lock.owner" in a
    assert a == b
    assert str(os.getpid()).encode() + b"." not in a


@pytest.mark.parametrize("count", ["thirteen", "[13]", "-1", "true"])
def test_expect_commands_counts_are_checked_at_load(count):
    text = open(COLD).read() + f"  - expect_commands: {{count: {{'dmsetup create': {count}}}}}\n"
    with pytest.raises(ScenarioError, match=r"count\['dmsetup create'\]: .* is not a count"):
        parse(text, "f.yaml")


def test_diff_of_a_missing_file_says_it_is_missing(tmp_path, capsys):
    other = tmp_path / "x.log"
    other.write_text("true\n")
    assert main(["diff", str(tmp_path / "nope.log"), str(other)]) == 2
    assert capsys.readouterr().err == f"nc-harness diff: {tmp_path / 'nope.log'}: no such file or directory\n"


@pytest.mark.parametrize("argv", [["image"], ["image", "bundle"], ["image", "unbundle", "--bogus"],
                                  ["image", "bundle", "-i", "README.md", "-r", "x86_64", "--part-size", "lots",
                                   "--ec2cert", "scenarios/keys/cloud-cert.pem"],
                                  ["image", "bundle", "-i", "README.md", "-r", "x86_64", "-B", "junk",
                                   "--ec2cert", "scenarios/keys/cloud-cert.pem"],
                                  ["image", "bundle", "-i", "README.md", "-r", "x86_64"],
                                  ["image", "bundle", "-i", "no-such.img", "-r", "x86_64",
                                   "--ec2cert", "scenarios/keys/cloud-cert.pem"]])
def test_image_usage_errors_exit_2(argv, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("EUCALYPTUS_CERT", raising=False)
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_an_unreachable_object_store_is_one_line_and_exit_3(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    assert main(["image", "describe", "--endpoint", "http://127.0.0.1:9"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("nc-harness image: cannot reach the object store: ") and err.count("\n") == 1


def test_a_closed_pipe_is_no_traceback(tmp_path):
    """`nc-harness diff A B | head -c 1`: the reader goes away after one byte."""
    trace = os.path.join(ROOT, "scenarios", "traces", "seed-000.log")
    other = tmp_path / "other.log"
    other.write_text("true\n" * 5000)
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", "diff", trace, str(other)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141, err
    assert "Traceback" not in err and "internal error" not in err and "Exception ignored" not in err, err


def test_explore_seed_seeds_hypothesis():
    from harness.explore import state_machine
    seen = []
    original = state_machine.NodeMachine.__init__

    def record(self):
        original(self)
        seen.append(self.steps)
    state_machine.NodeMachine.__init__ = record
    try:
        runs = []
        for seed in (7, 7, 8):
            seen.clear()
            state_machine.explore(examples=3, steps=4, seed=seed)
            runs.append([yaml.safe_dump(s) for s in seen])
    finally:
        state_machine.NodeMachine.__init__ = original
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_keep_going_marks_follow_on_failures_and_prints_continued_commands_whole(tmp_path, capsys):
    trace = tmp_path / "t.log"
    trace.write_text("10:00:00 /sbin/losetup -o 0 /dev/loop0 /srv/missing.img\n"
                     "10:00:01 echo \"0 8 linear /dev/loop0 0\" \\\n"
                     "         | /sbin/dmsetup create euca-x-y-z\n"
                     "10:00:02 /sbin/losetup -d /dev/loop7\n")
    assert main(["replay", str(trace), "--keep-going"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{trace}:1: failed")
    assert err[1].startswith(f"{trace}:2 [follows from line 1]: failed (rc=1): echo \"0 8 linear /dev/loop0 0\" \\")
    assert err[2].strip().startswith("| /sbin/dmsetup create euca-x-y-z")
    assert err[3].startswith(f"{trace}:4: failed")
