"""Our own recordings from the real node (`nc-harness replay FILE.sh --backend uml --transcript ...`): error
paths, busy removals and naming cases the reference fixtures lack. The simulator must reproduce every
command's stdout, stderr and exit status."""
import os

import pytest
from conftest import FIXTURES

from harness.backends.sim import SimHost
from harness.replay.replayer import replay
from harness.replay.trace import parse_transcript

OWN = os.path.join(FIXTURES, "uml-own")



@pytest.mark.parametrize("name,minimum", [("edge-cases", 50), ("tree-and-info", 15), ("loop-autocreate", 12),
                                                 ("dm-concise", 24)])
def test_recordings_from_the_real_node_replay_identically(name, minimum):
    commands = parse_transcript(open(os.path.join(OWN, f"{name}.transcript.txt")).read(), name)
    assert len(commands) > minimum
    outcome = replay(SimHost(dialect="debian12"), commands, keep_going=True, check=True)
    assert [f.describe(name) for f in outcome.failures] == []


def test_the_recorded_cases_cover_errors_and_busy_paths():
    text = open(os.path.join(OWN, "edge-cases.transcript.txt")).read()
    for needle in ("Device or resource busy", "reload ioctl on t2 (253:1) failed: Invalid argument",
                   "detach failed: No such device or address", "not mounted.", "is mounted; will not make swapspace",
                   "Found a dos partition table in /dev/loop0"):
        assert needle in text, needle


def test_el6_dmsetup_has_no_concise_create():
    result = SimHost(dialect="el6").run(["dmsetup", "create", "--concise", "a,,,rw,0 10 zero"])
    assert (result.rc, result.stderr) == (1, "dmsetup: unrecognized option '--concise'\n"
                                             "Couldn't process command line.\n")
