"""Real-kernel fidelity: replaying the UML transcript reproduces its outputs and every dumped state file."""
import json
import os
import re

import pytest

from conftest import FIXTURES
from harness.backends.sim import SimHost
from harness.replay import mask, replay
from harness.trace import parse_transcript

UML = os.path.join(FIXTURES, "uml")
MARK = re.compile(r"^######## state dumped to (\S+)/ ########$", re.M)

# Known gap: the simulator's ext3 writes data in place without a journal, so the number of
# chunks a transient snapshot copies after mount/mkdir/cp/umount differs from the kernel's.
KNOWN_GAPS = {("phase2-emi-clone", "dmsetup-status"), ("phase3a-ephemeral-swap", "dmsetup-status"),
              ("phase3b-disk-assembled", "dmsetup-status"), ("phase3c-after-mklabel", "dmsetup-status"),
              ("phase3d-after-mkpart", "dmsetup-status"), ("phase3e-after-kpartx-a", "dmsetup-status")}


def _phases():
    text = open(os.path.join(UML, "transcript.txt")).read()
    pieces = MARK.split(text)
    out = []
    for i in range(1, len(pieces), 2):
        out.append((pieces[i], pieces[i - 1]))
    return out


def _normalise(name: str, text: str) -> str:
    text = mask(text)
    if name == "ls-l-dev-mapper":
        text = re.sub(r"[A-Z][a-z]{2} \d\d \d\d:\d\d", "<time>", text)
    return text


@pytest.fixture(scope="module")
def replayed():
    host = SimHost(dialect="debian12", host_dev=(98, 16))
    states = {}
    for phase, chunk in _phases():
        commands = parse_transcript(chunk)
        outcome = replay(host, commands, check=True, keep_going=True)
        states[phase] = (outcome, {})
        rc_spec = json.load(open(os.path.join(UML, phase, "rc.json")))
        for key, spec in rc_spec.items():
            result = host.run_shell(spec["cmd"])
            states[phase][1][key] = (result, spec)
    return states


PHASES = [p for p, _ in _phases()]


@pytest.mark.parametrize("phase", PHASES)
def test_every_transcript_command_matches(replayed, phase):
    outcome, _ = replayed[phase]
    assert [f.describe("transcript") for f in outcome.failures] == []


@pytest.mark.parametrize("phase", PHASES)
def test_every_dumped_file_matches(replayed, phase):
    _, dumps = replayed[phase]
    mismatches = []
    for key, (result, spec) in dumps.items():
        expected = open(os.path.join(UML, phase, key + ".txt")).read()
        assert result.rc == spec["rc"] and bool(result.stderr) == spec["stderr"], (key, result.stderr)
        got, want = _normalise(key, result.stdout), _normalise(key, expected)
        if (phase, key) in KNOWN_GAPS:
            # only the snapshot usage numbers may differ (no jbd2/Orlov model yet); everything else must match
            usage = re.compile(r"snapshot \d+/")
            got, want = usage.sub("snapshot N/", got), usage.sub("snapshot N/", want)
        if got != want:
            mismatches.append(key)
    assert mismatches == []


def test_known_gaps_only_differ_in_snapshot_usage(replayed):
    _, dumps = replayed["phase3e-after-kpartx-a"]
    result, _ = dumps["dmsetup-status"]
    expected = open(os.path.join(UML, "phase3e-after-kpartx-a", "dmsetup-status.txt")).read()
    strip = lambda t: re.sub(r"snapshot \d+/", "snapshot N/", t)  # noqa: E731
    assert strip(result.stdout) == strip(expected)
