"""`nc-harness nightly --inventory`: the suite across nodes that already run, one xdist worker each, reached over
ssh as nodes on other hosts would be: two user-mode-linux nodes in ssh mode (each its own tap, address, key and
copy-on-write root). The inventory's bad inputs are checked without nodes."""
from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT

from harness.cli.main import main

REAL = os.environ.get("NC_REAL_NODE") == "1"


@pytest.mark.parametrize("text,message", [
    ("nodes: []\n", "a list of at least one node"),
    ("nodes: [ftp://x]\n", "nodes[0]: target 'ftp://x': use ssh://USER@HOST[:PORT] or vagrant:NAME"),
    ("nodes: [{target: 'ssh://root@a', colour: red}]\n", "nodes[0]: unknown key 'colour'"),
    ("nodes: [ssh://root@a, ssh://root@a]\n", "two nodes are named 'a'"),
    ("nodes: [{target: 'ssh://root@a', identity: /nowhere/key}]\n", "identity /nowhere/key: no such file"),
    ("nodes: [ssh://root@a\n", "YAML error"),
    ("hosts: [ssh://root@a]\n", "expected a mapping with `nodes:`"),
    ("nodes: [{libvirt: 'kvm-host-3'}]\n", "nodes[0]: libvirt 'kvm-host-3': a libvirt URI"),
    ("nodes: [{libvirt: 'qemu:///system', nodes: 0}]\n", "nodes[0]: nodes 0: how many nodes"),
    ("nodes: [{libvirt: 'qemu:///system', target: 'ssh://a'}]\n", "nodes[0]: unknown key 'target'"),
    ("nodes: [{libvirt: 'qemu:///system', name: 'a b'}]\n", "nodes[0]: name 'a b'"),
    ("nodes: [{libvirt: 'qemu+ssh://root@h1/system'}, {libvirt: 'qemu+ssh://root@h1.b/system'}]\n",
     "two nodes are named 'h1-node1'"),
])
def test_a_bad_inventory_is_one_line_naming_the_file_and_entry(tmp_path, capsys, text, message):
    inv = tmp_path / "fleet.yaml"
    inv.write_text(text)
    assert main(["nightly", "--inventory", str(inv), "--junit", str(tmp_path / "j.xml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nc-harness nightly: {inv}") and message in err and err.count("\n") == 1
    assert not (tmp_path / "j.xml").exists()


def test_a_libvirt_entry_is_its_nodes_each_found_with_its_entrys_vagrant_env(tmp_path):
    from harness.fleet.inventory import hypervisors, load_inventory, node_for_worker
    inv = tmp_path / "fleet.yaml"
    inv.write_text("nodes:\n  - ssh://root@a.example\n"
                   "  - {libvirt: 'qemu+ssh://root@kvm-3.example/system', nodes: 2}\n")
    nodes = load_inventory(str(inv))
    assert [n.target for n in nodes] == ["ssh://root@a.example", "vagrant:kvm-3-node1", "vagrant:kvm-3-node2"]
    assert node_for_worker(nodes, "gw2").name == "kvm-3-node2"
    (hv,) = hypervisors(nodes)
    env = hv.vagrant_env("/p")
    assert env["NC_LIBVIRT_URI"] == "qemu+ssh://root@kvm-3.example/system" and env["NC_NODE_PREFIX"] == "kvm-3-"
    assert env["NC_NODES"] == "2" and env["VAGRANT_DOTFILE_PATH"] == "/p/.vagrant/fleet-kvm-3"


def test_junit_is_split_per_node(tmp_path):
    from harness.fleet.junit import split_by_node
    junit = tmp_path / "all.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="a" name="x"><properties><property name="backend" value="ssh://root@n1"/></properties>'
        '</testcase><testcase classname="a" name="y"><properties><property name="backend" value="ssh://root@n2"/>'
        '</properties><failure message="boom"/></testcase></testsuite></testsuites>')
    files = split_by_node(str(junit), {"ssh://root@n1": "n1", "ssh://root@n2": "n2"})
    one, two = ET.parse(files["n1"]).getroot()[0], ET.parse(files["n2"]).getroot()[0]
    assert (one.get("tests"), one.get("failures"), two.get("tests"), two.get("failures")) == ("1", "0", "1", "1")


@pytest.mark.skipif(not REAL, reason="real-node stage: NC_REAL_NODE=1 (two UML nodes in ssh mode)")
@pytest.mark.skipif(os.environ.get("NC_REAL_NODE_KIND", "uml") != "uml",
                    reason="NC_REAL_NODE_KIND=qemu: the UML node (the only one with an ssh mode) cannot run on this "
                           "host's CPU")
def test_nightly_runs_the_suite_across_two_ssh_nodes_one_worker_each(tmp_path, capsys):
    from harness.backends.ssh import SshHost
    from harness.nodes.uml import UmlNode
    with UmlNode(ssh=True, tap="ncfleet1", host_ip="10.0.61.1", node_ip="10.0.61.2") as a, \
            UmlNode(ssh=True, tap="ncfleet2", host_ip="10.0.62.1", node_ip="10.0.62.2") as b:
        for node in (a, b):
            for _ in range(60):
                try:
                    SshHost(f"ssh://root@{node.node_ip}", node.key).run(["true"])
                    break
                except Exception:  # noqa: BLE001 - sshd still starting
                    time.sleep(0.5)
            else:
                pytest.fail(f"sshd on {node.node_ip} never answered")
        inv = tmp_path / "fleet.yaml"
        inv.write_text(f"nodes:\n  - {{target: 'ssh://root@{a.node_ip}', identity: '{a.key}', name: host-a}}\n"
                       f"  - {{target: 'ssh://root@{b.node_ip}', identity: '{b.key}', name: host-b}}\n")
        junit = tmp_path / "nightly.xml"
        # two short items, one per node (every command is an ssh session on a user-mode kernel: cold-cache and
        # warm-cache across the two took 11 minutes here): a shipped trace and a regression scenario
        paths = [os.path.join(ROOT, "scenarios", "traces", "nc33-migration-destination.log"),
                 os.path.join(ROOT, "scenarios", "regressions", "l01-instances-behind-a-symlink.yaml")]
        rc = main(["nightly", "--inventory", str(inv), "--junit", str(junit), *paths])
    out = capsys.readouterr().out
    assert rc == 0, out
    for name in ("host-a", "host-b"):
        suite = ET.parse(tmp_path / f"nightly-{name}.xml").getroot()[0]
        assert int(suite.get("tests")) > 0 and suite.get("failures") == "0", (name, out)
