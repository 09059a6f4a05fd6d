"""Vagrant/libvirt nodes: the `vagrant:NAME` backend and `nc-harness nightly`.

The parts run everywhere; bringing a node up is the real-node stage (NC_REAL_NODE=1, after
`nc-harness node build --box`), where a missing prerequisite fails instead of skipping."""
import os
import subprocess

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
def test_cold_cache_passes_on_a_vagrant_libvirt_node(capsys):
    """Acceptance: `vagrant up` with the shipped Vagrantfile (qemu driver here), then cold-cache on it."""
    import vagrant
    env = dict(os.environ, NC_NODES="1", NC_LIBVIRT_DRIVER=os.environ.get("NC_LIBVIRT_DRIVER", "qemu"))
    v = vagrant.Vagrant(root=ROOT, env=env, quiet_stdout=True, quiet_stderr=True)
    try:
        v.up(vm_name="node1", provider="libvirt")
        assert main(["run", os.path.join(ROOT, "scenarios", "cold-cache.yaml"), "--backend", "vagrant:node1"]) == 0
        assert capsys.readouterr().out.startswith("PASS cold-cache")
    finally:
        v.destroy(vm_name="node1")
