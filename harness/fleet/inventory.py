"""An inventory of existing nodes for `nc-harness nightly --inventory FILE`: one pytest-xdist worker per node.

    nodes:
      - ssh://root@kvm-host-1.example:2201                      # a node reached over ssh (NC_SSH_IDENTITY's key)
      - {target: ssh://root@kvm-host-2.example, identity: ~/.ssh/nightly_ed25519, name: host2-node1}
      - vagrant:node1                                            # a node the shipped Vagrantfile brought up

Worker gwN runs on the N-th node. A node's `name` (default: its target's host and port) names its JUnit file."""
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


def load_inventory(path: str) -> list[InventoryNode]:
    """The nodes of an inventory file; any mistake is one InventoryError naming the file and the entry."""
    doc = read_yaml(path, InventoryError)
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) or not doc["nodes"]:
        raise InventoryError(f"{path}: expected a mapping with `nodes:`, a list of at least one node")
    unknown = sorted(set(doc) - {"nodes"})
    if unknown:
        raise InventoryError(f"{path}: unknown key '{unknown[0]}' (only `nodes`)")
    nodes = [_node(path, i, entry) for i, entry in enumerate(doc["nodes"])]
    names = [n.name for n in nodes]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise InventoryError(f"{path}: nodes: two nodes are named '{dup}' (give each a `name`)")
    return nodes


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
