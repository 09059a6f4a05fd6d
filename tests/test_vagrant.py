"""Vagrant/libvirt nodes: the `vagrant:NAME` backend and `nc-harness nightly`.

The parts run everywhere; bringing a node up is the real-node stage (NC_REAL_NODE=1, after
`nc-harness node build --box`), where a missing prerequisite fails instead of skipping."""
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT

from harness.cli.main import main

REAL = os.environ.get("NC_REAL_NODE") == "1"


def test_worker_template_gives_each_xdist_worker_its_own_node(monkeypatch):
    from harness.backends.vagrant import node_name
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    assert node_name("vagrant:node{worker}") == "node3"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert node_name("vagrant:node{worker}") == "node1"
    assert node_name("vagrant:node7") == "node7"
    for bad in ("vagrant:", "vagrant:a b", "vagrant:x;rm"):
        with pytest.raises(ValueError, match="bad vagrant backend"):
            node_name(bad)


def test_nightly_refuses_bad_arguments_in_one_line(capsys):
    assert main(["nightly", "--nodes", "0"]) == 2
    assert capsys.readouterr().err == "nc-harness nightly: --nodes must be at least 1\n"
    assert main(["nightly", "--keep", "sometimes"]) == 2
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err


def test_unknown_vagrant_machine_is_one_line(capsys, tmp_path):
    pytest.importorskip("vagrant")
    if subprocess.run(["which", "vagrant"], capture_output=True).returncode != 0:
        pytest.skip("vagrant is not installed")
    (tmp_path / "Vagrantfile").write_text('Vagrant.configure("2") { |c| c.vm.box = "none" }\n')
    from harness.backends.vagrant import VagrantHost
    with pytest.raises(ValueError, match=r"^backend vagrant:nosuch: no such running machine in .*Vagrantfile"):
        VagrantHost("vagrant:nosuch", project_dir=str(tmp_path))


@pytest.mark.skipif(not REAL, reason="real-node stage: NC_REAL_NODE=1 (needs vagrant, libvirt and the box)")
def test_cold_cache_passes_on_a_vagrant_node_nightly_brings_up_on_a_libvirt_uri(tmp_path, capsys, monkeypatch):
    """Acceptance: `nightly --inventory` with a libvirt entry brings a node up with the shipped Vagrantfile on
    that hypervisor (this host's, by its URI; qemu driver here), runs cold-cache on it, JUnit for the node, and
    destroys it."""
    import vagrant

    from harness.backends.vagrant import PROJECT_DIR
    from harness.fleet.inventory import hypervisors, load_inventory
    monkeypatch.setenv("NC_LIBVIRT_DRIVER", os.environ.get("NC_LIBVIRT_DRIVER", "qemu"))
    inv = tmp_path / "fleet.yaml"
    inv.write_text("nodes:\n  - {libvirt: 'qemu:///system', nodes: 1, name: here}\n")
    junit = tmp_path / "nightly.xml"
    (hv,) = hypervisors(load_inventory(str(inv)))      # the entry as nightly reads it, for the cleanup below
    try:
        rc = main(["nightly", "--inventory", str(inv), "--junit", str(junit),
                   os.path.join(ROOT, "scenarios", "cold-cache.yaml")])
        out = capsys.readouterr().out
        assert rc == 0, out
        suite = ET.parse(tmp_path / "nightly-here-node1.xml").getroot()[0]
        # cold-cache's steps, each a test case of the node's file
        assert int(suite.get("tests")) > 1 and (suite.get("failures"), suite.get("errors")) == ("0", "0"), out
        assert "nodes destroyed" in out
    finally:   # whatever happened, no domain is left on the host
        vagrant.Vagrant(root=PROJECT_DIR, env=dict(os.environ, **hv.vagrant_env(PROJECT_DIR)),
                        quiet_stdout=True, quiet_stderr=True).destroy()
