"""Trace and transcript parsing, and the CLI's one-line errors."""
import subprocess
import sys

import pytest
from conftest import ROOT

from harness.replay.trace import TraceError, parse_trace


def test_seed_format_with_continuations():
    text = ('15:55:19 echo "0 2867200 linear /dev/mapper/x 0"\n'
            '         | /sbin/dmsetup create y\n'
            '15:55:27  echo -e \\\n'
            '"0 63 linear /dev/a 0\\n"\\\n'
            '"63 10 linear /dev/b 0"\\\n'
            '         | /sbin/dmsetup create d \n'
            '2013-05-01 12:58:13 /sbin/losetup -d /dev/loop7\n'
            '# a comment\n\n'
            'mkdir -p /x\n')
    cmds = parse_trace(text, "t")
    assert [c.lineno for c in cmds] == [1, 3, 7, 10]
    assert cmds[0].text == 'echo "0 2867200 linear /dev/mapper/x 0" | /sbin/dmsetup create y'
    assert cmds[0].stamp == "15:55:19"
    assert cmds[2].stamp == "2013-05-01 12:58:13"
    assert cmds[3].text == "mkdir -p /x"


def test_transcript_format_reads_expectations():
    text = "$ mkswap /dev/loop4 16\nout line\n[stderr] err line\n# rc=1\n\n$ true\n# (prep)\n# rc=0\n"
    cmds = parse_trace(text, "t")
    assert [c.text for c in cmds] == ["mkswap /dev/loop4 16", "true"]
    assert cmds[0].expected.stdout == ["out line"] and cmds[0].expected.stderr == ["err line"]
    assert cmds[0].expected.rc == 1 and cmds[1].expected.rc == 0


@pytest.mark.parametrize("text,where", [
    ("12:00:00 echo 'open\n", "t:1:"),
    ("12:00:00 ls \\\n", "t:1: command ends with a line continuation"),
    ("   indented first\n", "t:1: indented line"),
    ("$ true\nno rc\n", "t:1: command has no '# rc=N' line"),
])
def test_malformed_traces_name_file_and_line(text, where):
    with pytest.raises(TraceError) as info:
        parse_trace(text, "t")
    assert str(info.value).startswith(where)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli.main", *args], cwd=ROOT, capture_output=True, text=True)


def test_cli_reports_bad_trace_in_one_line(tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_bytes(b"12:00:00 echo ok\n12:00:01 echo \xff\n")
    proc = _cli("replay", str(bad))
    assert proc.returncode == 2
    assert proc.stderr == f"nc-harness replay: {bad}:2: not valid UTF-8 text (byte 0xff)\n"
    proc = _cli("replay", str(tmp_path / "missing.log"))
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def test_cli_stops_at_first_failure_or_keeps_going(tmp_path):
    trace = tmp_path / "t.log"
    trace.write_text("10:00:00 losetup -d /dev/loop3\n10:00:01 dmsetup remove nope\n10:00:02 true\n")
    proc = _cli("replay", str(trace))
    assert proc.returncode == 1
    assert proc.stderr == (f"{trace}:1: failed (rc=1): losetup -d /dev/loop3: "
                           "losetup: /dev/loop3: detach failed: No such device or address\n")
    proc = _cli("replay", str(trace), "--keep-going")
    assert len(proc.stderr.splitlines()) == 2


def test_cli_bad_arguments():
    proc = _cli("replay")
    assert proc.returncode == 2 and proc.stderr.startswith("nc-harness: ") and "Traceback" not in proc.stderr
    proc = _cli("replay", "x", "--dialect", "rhel9")
    assert proc.returncode == 2


def test_transcript_round_trip(tmp_path):
    trace = tmp_path / "t.log"
    trace.write_text("mkdir -p /d && truncate -s 1M /d/f\nlosetup -f --show /d/f\nlosetup -d /dev/loop9\n")
    out = tmp_path / "out.txt"
    proc = _cli("replay", str(trace), "--keep-going", "--transcript", str(out))
    assert proc.returncode == 1
    text = out.read_text()
    assert "$ losetup -f --show /d/f\n/dev/loop0\n# rc=0\n" in text
    assert "[stderr] losetup: /dev/loop9: failed to use device: No such device\n# rc=1\n" in text
    again = _cli("replay", str(out), "--check")
    assert again.returncode == 0, again.stderr
