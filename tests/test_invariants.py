"""The invariants between engine operations (harness/checks/invariants.py) tell an open mark another live
process holds (its lock-owner link names it) from one a dead process left (abandoned, as fsck condemns it)."""
from harness.checks.invariants import check
from harness.scenario.loader import parse
from harness.scenario.runner import run_scenario

CACHE = "/var/lib/eucalyptus/instances/cache"
SCENARIO = """name: held-elsewhere
node: {dialect: debian12, seed: 5, cache_mb: 200}
images:
  - {id: eki-00000H01, size: 1048576, content: pattern}
  - {id: emi-0000000H, size: 8388608, content: ext3}
steps:
  - run_instance: {id: i-00000001, user: U, vbrs: [kernel:eki-00000H01:-1:none:none:staged,
                   machine:emi-0000000H:-1:none:sda1:staged]}
  - terminate_instance: {id: i-00000001}
"""


def _held(owner: str) -> list[str]:
    result = run_scenario(parse(SCENARIO, "held-elsewhere.yaml"))
    assert result.ok, result.failure
    host, nc = result.run.host, result.controller
    blob = next(b for b in nc.cache.ids() if b.startswith("emi-"))
    lock = f"{CACHE}/{blob}/lock"
    assert host.run(["ln", "-s", owner, lock + ".owner"]).rc == 0
    assert host.run(["tee", lock], "imager/t1").rc == 0
    return check(host, nc)


def test_a_blob_another_live_process_holds_open_is_not_abandoned():
    assert _held("1.1") == []          # pid 1 lives: the imager's open, as o01's other process


def test_a_blob_whose_opener_died_is_abandoned():
    assert [p.split(": ", 1)[1] for p in _held("4242.1")] == ["abandoned"]
