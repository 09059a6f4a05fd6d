"""An inventory of existing nodes for `nc-harness nightly --inventory FILE`: one pytest-xdist worker per node.

    nodes:
      - ssh://root@kvm-host-1.example:2201                      # a node reached over ssh (NC_SSH_IDENTITY's key)
      - {target: ssh://root@kvm-host-2.example, identity: ~/.ssh/nightly_ed25519, name: host2-node1}
      - vagrant:node1                                            # a node the shipped Vagrantfile brought up
      - {libvirt: qemu+ssh://root@kvm-host-3.example/system, nodes: 2, name: host3}
                                  # `nightly` brings up 2 nodes of the shipped Vagrantfile on that hypervisor
                                  # (host3-node1, host3-node2) and destroys them after the run (per --keep)

Worker gwN runs on the N-th node (a libvirt entry counts as its nodes, in order). A node's `name` (default: its
target's host and port; for a libvirt entry's nodes NAME-nodeK) names its JUnit file."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.yamlfile import read_yaml


class InventoryError(HarnessError):
    pass


@dataclass(frozen=True)
class InventoryNode:
    target: str            # a backend spec: ssh://USER@HOST[:PORT] or vagrant:NAME
    identity: str = ""     # the ssh key for this node (default NC_SSH_IDENTITY)
    name: str = ""
    hypervisor: Hypervisor | None = None   # a node `nightly` brings up there with Vagrant


@dataclass(frozen=True)
class Hypervisor:
    """A libvirt entry: `nodes` nodes of the shipped Vagrantfile brought up on `uri`, their machines named
    NAME-node1..N and their Vagrant state kept apart per entry (.vagrant/fleet-NAME)."""
    uri: str
    nodes: int
    name: str

    def vagrant_env(self, project_dir: str) -> dict[str, str]:
        """What the Vagrantfile and Vagrant read to find these machines (vagrant up, ssh-config, destroy)."""
        return {"NC_LIBVIRT_URI": self.uri, "NC_NODES": str(self.nodes), "NC_NODE_PREFIX": f"{self.name}-",
                "VAGRANT_DOTFILE_PATH": os.path.join(project_dir, ".vagrant", f"fleet-{self.name}"),
                "VAGRANT_DEFAULT_PROVIDER": "libvirt"}


def load_inventory(path: str) -> list[InventoryNode]:
    """The nodes of an inventory file; any mistake is one InventoryError naming the file and the entry."""
    doc = read_yaml(path, InventoryError)
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) or not doc["nodes"]:
        raise InventoryError(f"{path}: expected a mapping with `nodes:`, a list of at least one node")
    unknown = sorted(set(doc) - {"nodes"})
    if unknown:
        raise InventoryError(f"{path}: unknown key '{unknown[0]}' (only `nodes`)")
    nodes = [node for i, entry in enumerate(doc["nodes"]) for node in _nodes(path, i, entry)]
    names = [n.name for n in nodes]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise InventoryError(f"{path}: nodes: two nodes are named '{dup}' (give each a `name`)")
    return nodes


def hypervisors(nodes: list[InventoryNode]) -> list[Hypervisor]:
    """The libvirt entries of an inventory, in order."""
    return list(dict.fromkeys(n.hypervisor for n in nodes if n.hypervisor is not None))


def _nodes(path: str, i: int, entry) -> list[InventoryNode]:
    if isinstance(entry, dict) and "libvirt" in entry:
        return _libvirt(f"{path}: nodes[{i}]", entry)
    return [_node(path, i, entry)]


def _libvirt(where: str, entry: dict) -> list[InventoryNode]:
    unknown = sorted(set(entry) - {"libvirt", "nodes", "name"})
    if unknown:
        raise InventoryError(f"{where}: unknown key '{unknown[0]}' (libvirt, nodes, name)")
    uri = entry["libvirt"]
    # a libvirt URI: driver[+transport]://[user@][host[:port]]/path[?params]
    if not isinstance(uri, str) or not re.fullmatch(r"[a-z]+(\+[a-z]+)?://([\w.-]+@)?[\w.-]*(:\d+)?/[\w/.-]*"
                                                    r"(\?[\w=&.,/-]*)?", uri):
        raise InventoryError(f"{where}: libvirt {uri!r}: a libvirt URI, e.g. qemu+ssh://root@HOST/system")
    count = entry.get("nodes", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 64:
        raise InventoryError(f"{where}: nodes {count!r}: how many nodes to bring up there (1 to 64)")
    host = re.sub(r"^[^/]*//([\w.-]+@)?", "", uri).split("/", 1)[0].split(":", 1)[0]
    name = entry.get("name") or host.split(".", 1)[0] or "local"
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][\w-]*", name):
        raise InventoryError(f"{where}: name {name!r}: letters, digits, '_' and '-' only")
    hv = Hypervisor(uri, count, name)
    return [InventoryNode(f"vagrant:{name}-node{k}", "", f"{name}-node{k}", hv) for k in range(1, count + 1)]


def _node(path: str, i: int, entry) -> InventoryNode:
    where = f"{path}: nodes[{i}]"
    if isinstance(entry, str):
        entry = {"target": entry}
    if not isinstance(entry, dict):
        raise InventoryError(f"{where}: a target (ssh://USER@HOST[:PORT] or vagrant:NAME) or a mapping with one")
    unknown = sorted(set(entry) - {"target", "identity", "name"})
    if unknown:
        raise InventoryError(f"{where}: unknown key '{unknown[0]}' (target, identity, name)")
    target = entry.get("target")
    if not isinstance(target, str) or not re.fullmatch(r"ssh://([\w.-]+@)?[\w.-]+(:\d+)?|vagrant:[\w.-]+", target):
        raise InventoryError(f"{where}: target {target!r}: use ssh://USER@HOST[:PORT] or vagrant:NAME")
    identity = entry.get("identity", "")
    if not isinstance(identity, str):
        raise InventoryError(f"{where}: identity: a path to a private key")
    identity = os.path.expanduser(identity)
    if identity and not os.path.isfile(identity):
        raise InventoryError(f"{where}: identity {identity}: no such file")
    name = entry.get("name") or re.sub(r"^(ssh://([\w.-]+@)?|vagrant:)", "", target).replace(":", "-")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise InventoryError(f"{where}: name {name!r}: letters, digits, '.', '_' and '-' only")
    return InventoryNode(target, identity, name)


def node_for_worker(nodes: list[InventoryNode], worker: str) -> InventoryNode:
    """xdist worker `gwN` runs on the N-th node (no worker: the first)."""
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    if index >= len(nodes):
        raise InventoryError(f"worker {worker} has no node: the inventory has {len(nodes)} (run -n {len(nodes)})")
    return nodes[index]
