"""Scenarios with several nodes (issue 22): their own kernels, one clock, shared storage, and the decision on a
cache shared between nodes (refused, with the first node untouched)."""
import os

import pytest

from harness.scenario.loader import load, parse
from harness.scenario.registry import ScenarioError
from harness.scenario.runner import run_scenario
from simulator.node import Node

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "scenarios", "regressions", "s01-cache-shared-between-nodes.yaml")

TWO = """name: two
nodes:
  a: {seed: 1, cache_mb: 60}
  b: {seed: 2, cache_mb: 60}
images:
  - {id: eki-00000N01, size: 1048576, content: pattern}
  - {id: emi-0000000N, size: 8388608, content: ext3}
steps:
  - run_instance: {id: i-00000001, user: U, vbrs: [kernel:eki-00000N01:-1:none:none:staged,
                   machine:emi-0000000N:-1:none:sda1:staged]}
  - run_instance: {node: b, id: i-00000002, user: U, vbrs: [kernel:eki-00000N01:-1:none:none:staged,
                   machine:emi-0000000N:-1:none:sda1:staged]}
  - expect_instances: {running: [i-00000001]}
  - expect_instances: {node: b, running: [i-00000002]}
  - terminate_instance: {id: i-00000002, node: b}
  - expect_instances: {node: b, running: []}
  - terminate_instance: {id: i-00000001}
  - check_invariants: {terminated: [i-00000001]}
  - check_invariants: {node: b, terminated: [i-00000002]}
"""


def test_two_nodes_have_their_own_kernels_and_controllers():
    result = run_scenario(parse(TWO, "two.yaml"))
    assert result.ok, result.failure


def test_the_shared_cache_regression_passes_on_both_engine_paths():
    assert run_scenario(load(SHARED)).ok
    assert run_scenario(load(SHARED).fast_path()).ok


def test_without_the_claim_the_second_node_deletes_the_first_nodes_cached_image(monkeypatch):
    import engine.nodeio
    monkeypatch.setattr(engine.nodeio.NodeIO, "node_name", lambda self: "")
    text = open(SHARED, encoding="utf-8").read().replace(", expect_error: shared between nodes", "")
    result = run_scenario(parse(text, "s01.yaml"))
    assert not result.ok and "(deleted)" in result.failure, result.failure


def test_shared_storage_is_one_filesystem_on_every_node():
    text = TWO.replace("images:", "shared: [/srv/share]\nimages:").split("steps:")[0] + """steps:
  - node_command: {argv: [tee, /srv/share/hello], stdin: "from a\\n"}
  - node_command: {node: b, argv: [cat, /srv/share/hello]}
  - node_command: {node: b, argv: [test, -e, /var/lib/nc-harness/images/eki-00000N01.img]}
"""
    result = run_scenario(parse(text, "share.yaml"), then=[])
    assert result.ok, result.failure


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("  b: {seed: 2, cache_mb: 60}\n", ""), "two or more node names"),
    (lambda t: t.replace("nodes:", "node: {}\nnodes:"), "'node' and 'nodes' together"),
    (lambda t: t.replace("{node: b, id: i-00000002", "{node: c, id: i-00000002"), "node 'c' is not one of"),
    (lambda t: t.replace("images:", "shared: [relative/path]\nimages:"), "shared: a list of absolute"),
    (lambda t: t.replace("  a: {seed: 1, cache_mb: 60}", "  a: {seed: 1, cache_mb: -1}"), "nodes.a.cache_mb"),
])
def test_bad_node_settings_get_one_line_errors(change, message):
    with pytest.raises(ScenarioError) as exc:
        parse(change(TWO), "bad.yaml")
    assert message in str(exc.value) and str(exc.value).startswith("bad.yaml"), str(exc.value)


def test_shared_needs_several_nodes():
    text = "name: x\nnode: {}\nshared: [/srv]\nsteps: [{check_invariants: {}}]\n"
    with pytest.raises(ScenarioError, match="needs 'nodes'"):
        parse(text, "x.yaml")


@pytest.mark.parametrize("argv, rc, out, err", [
    (["uname"], 0, "Linux\n", ""),
    (["uname", "-n"], 0, "nc-a\n", ""),
    (["uname", "-s", "--nodename"], 0, "Linux nc-a\n", ""),
    (["uname", "-x"], 1, "", "uname: invalid option -- 'x'\nTry 'uname --help' for more information.\n"),
    (["uname", "-r"], 1, "", "uname: not modelled by the simulator: -r\n"),
])
def test_uname_tells_the_nodes_apart(argv, rc, out, err):
    result = Node(name="nc-a").run(argv)
    assert (result.rc, result.stdout, result.stderr) == (rc, out, err)


def test_a_concurrent_step_on_the_second_node_interleaves_there():
    text = TWO.split("steps:")[0] + """steps:
  - concurrently:
      node: b
      operations:
        - run_instance: {id: i-00000003, user: U, vbrs: [kernel:eki-00000N01:-1:none:none:staged,
                         machine:emi-0000000N:-1:none:sda1:staged]}
        - run_instance: {id: i-00000004, user: V, vbrs: [kernel:eki-00000N01:-1:none:none:staged,
                         machine:emi-0000000N:-1:none:sda1:staged]}
  - expect_instances: {node: b, running: [i-00000003, i-00000004]}
  - expect_instances: {running: []}
"""
    result = run_scenario(parse(text, "b.yaml"))
    assert result.ok, result.failure
    assert len(result.schedules[0].decisions) > 5, "the two launches on node b did not take turns"
