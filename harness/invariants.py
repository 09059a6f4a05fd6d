"""What must hold on a node between any two engine operations (the state machine's invariants, and the
`check_invariants` scenario step)."""
from __future__ import annotations

from engine.controller import NodeController
from engine.recovery import loop_backing, same_file

from .leaks import find_leaks


def check(host, nc: NodeController, terminated: set[str] | frozenset = frozenset()) -> list[str]:
    problems = [f"leak: {leak}" for leak in find_leaks(host, nc)]
    io = nc.io
    if nc.cache is not None and nc.cache.limit_blocks:
        used = nc.cache.used_blocks(nc.cache.scan())
        if used > nc.cache.limit_blocks:
            problems.append(f"cache holds {used} blocks, over its limit of {nc.cache.limit_blocks}")
    table = host.run(["dmsetup", "ls"]).stdout
    for inst in sorted(terminated):
        if f"-{inst}-" in table:
            problems.append(f"terminated {inst} still has dm devices")
    for store in (s for s in (nc.work, nc.cache) if s is not None):
        for blob_id in store.ids():
            for name in store.read_lines(blob_id, "dm"):
                if not io.exists(f"/dev/mapper/{name}"):
                    problems.append(f"{blob_id}: dm device {name} in metadata is not in the kernel")
            loop = io.read(store.path_of(blob_id, "loopback"))
            if loop and not same_file(loop_backing(io, loop), store.path_of(blob_id, "blocks")):
                problems.append(f"{blob_id}: {loop} does not hold its blocks file")
            for ref in store.read_lines(blob_id, "refs"):
                other_path, _, other_id = ref.partition(" ")
                other = store.registry.get(other_path)
                if other is None or not io.exists(other.path_of(other_id, "blocks")):
                    problems.append(f"{blob_id}: refs names missing blob {other_id}")
            if store.locks.holder(store.path_of(blob_id, "lock")) is not None:
                problems.append(f"{blob_id}: still open between operations")
    return problems
