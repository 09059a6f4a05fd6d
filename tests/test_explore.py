"""The state machine: it passes on the engine as it is, and finds and shrinks a planted bug to a YAML scenario."""
import os

import pytest

from engine.blobstore.store import Blobstore
from harness.explore.state_machine import ExplorationFailed, explore
from harness.scenario import load
from harness.scenario.runner import run_scenario

# The long stage (CI sets NC_EXPLORE=1): 200 examples of 30 steps and the planted-bug hunt, a few minutes.
LONG = os.environ.get("NC_EXPLORE") == "1"
EXAMPLES = int(os.environ.get("NC_EXPLORE_EXAMPLES", "200" if LONG else "15"))


def test_every_invariant_holds(tmp_path):
    assert explore(examples=EXAMPLES, steps=30, seed=1, save_dir=str(tmp_path)) == EXAMPLES


@pytest.mark.skipif(not LONG, reason="the planted-bug hunt takes about a minute: NC_EXPLORE=1 (CI sets it)")
def test_a_planted_refs_bug_is_found_and_shrunk_to_a_replayable_scenario(tmp_path, monkeypatch):
    original = Blobstore.remove_entry

    def skip_refs_update(self, blob_id, suffix, entry):
        if suffix != "refs":
            original(self, blob_id, suffix, entry)

    monkeypatch.setattr(Blobstore, "remove_entry", skip_refs_update)
    with pytest.raises(ExplorationFailed) as exc:
        explore(examples=100, steps=10, seed=2, save_dir=str(tmp_path), name="planted")
    found = exc.value
    assert len(found.steps) <= 6, found.steps
    scenario = load(found.path)
    assert scenario.steps[-1].kind == "check_invariants"
    assert not run_scenario(scenario).ok                     # the scenario reproduces it...
    monkeypatch.setattr(Blobstore, "remove_entry", original)
    assert run_scenario(load(found.path)).ok, "...and passes once the bug is gone"
