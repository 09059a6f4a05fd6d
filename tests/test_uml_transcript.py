"""Real-kernel fidelity: replaying the UML transcript reproduces its outputs and every dumped state file."""
import json
import os
import re

import pytest
from conftest import FIXTURES

from harness.backends.sim import SimHost
from harness.replay.replayer import mask, replay
from harness.replay.trace import parse_transcript

UML = os.path.join(FIXTURES, "uml")
MARK = re.compile(r"^######## state dumped to (\S+)/ ########$", re.M)

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
        if got != want:
            mismatches.append(key)
    assert mismatches == []


def test_key_injection_copies_the_chunks_the_kernel_copies(replayed):
    """mount, mkdir -p root/.ssh, cp, umount on a snapshot: 12 chunks of 16 sectors, as on the real kernel (the
    5 superblocks tune2fs rewrote, then at umount jbd2's log and checkpoint: the root inode's and root
    directory's blocks, the new group's bitmaps and inode table, the two directory blocks, the key's block
    and two chunks of journal)."""
    _, dumps = replayed["phase2-emi-clone"]
    result, _ = dumps["dmsetup-status"]
    assert "-emi-856C3CDE-dc63aa25-p0-snap: 0 131072 snapshot 192/131072 0" in result.stdout
