"""`vagrant:NAME`: a node of the project's Vagrantfile (libvirt), reached the way Vagrant itself reaches it:
python-vagrant reads `vagrant ssh-config NAME`, and pytest-testinfra's paramiko backend connects with that file
and key as root (the Vagrantfile's provisioner lets root in with Vagrant's key), or else as `vagrant` with every
command under sudo. `vagrant:node{worker}` picks node<N+1> for xdist worker gwN,
so `nc-harness nightly` gives each worker a node of its own.

On connect the node is reset as the UML node is (dm and loop state cleared, /var/lib/eucalyptus on the data
disk), and the data disk's device number is read so expectations pinned to the simulator's [25104] apply."""
from __future__ import annotations

import os
import tempfile

from harness.backends.realnode import RealNodeHost
from harness.backends.ssh import SshHost
from harness.backends.uml import UmlHost
from harness.nodes.uml import RESET

PROJECT_DIR = os.environ.get("NC_VAGRANT_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def node_name(spec: str) -> str:
    name = spec.split(":", 1)[1]
    if "{worker}" in name:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        name = name.replace("{worker}", str(int(worker.lstrip("gw") or 0) + 1))
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"bad vagrant backend '{spec}': use vagrant:NAME (a machine of the Vagrantfile)")
    return name


class VagrantHost(SshHost):
    name = "vagrant"

    def __init__(self, spec: str, project_dir: str = PROJECT_DIR):
        import vagrant
        RealNodeHost.__init__(self)
        self.machine = node_name(spec)
        v = vagrant.Vagrant(root=project_dir, quiet_stdout=True, quiet_stderr=True)
        try:
            config = v.ssh_config(vm_name=self.machine)
        except Exception:  # noqa: BLE001 - python-vagrant raises CalledProcessError with Vagrant's whole output
            raise ValueError(f"backend vagrant:{self.machine}: no such running machine in {project_dir}/Vagrantfile "
                             f"(vagrant up {self.machine} --provider=libvirt)") from None
        self.node = None
        self.spec = spec
        # as root where the Vagrantfile's provisioner let root in with the same key, else as vagrant with sudo
        self.ssh_config = self._write_config(config.replace("User vagrant", "User root"))
        self._connect(f"paramiko://{self.machine}", ssh_config=self.ssh_config)
        if self._probe() != "0":
            self.close()
            self.ssh_config = self._write_config(config)
            self._connect(f"paramiko://{self.machine}", ssh_config=self.ssh_config, sudo=True)
        reset = self.run(["bash", "-c", RESET])
        if reset.rc != 0:
            raise ValueError(f"backend vagrant:{self.machine}: node reset failed: {reset.stderr.strip()}")
        self.data_dev = self.run(["stat", "-c", "%d", "/disk1"]).stdout.strip()

    def _write_config(self, text: str) -> str:
        fd, path = tempfile.mkstemp(prefix=f"nc-harness-{self.machine}-", suffix=".ssh_config")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path

    def _probe(self) -> str:
        try:
            return self.run(["id", "-u"]).stdout.strip()
        except Exception:  # noqa: BLE001 - paramiko's authentication failure, whatever its class in this version
            return ""

    def canonical(self, text: str) -> str:
        if self.data_dev and self.data_dev != UmlHost.data_dev:
            return text.replace(f"[{self.data_dev}]:", f"[{UmlHost.data_dev}]:")
        return text

    def close(self) -> None:
        if os.path.exists(self.ssh_config):
            os.unlink(self.ssh_config)
