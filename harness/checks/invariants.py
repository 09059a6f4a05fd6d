"""What must hold on a node between any two engine operations (the state machine's invariants, and the
`check_invariants` scenario step)."""
from __future__ import annotations

from engine.controller import NodeController
from engine.recovery import stale_reasons
from harness.checks.leaks import find_leaks


def check(host, nc: NodeController, terminated: set[str] | frozenset = frozenset(),
          allowed: list[str] | None = None) -> list[str]:
    """Problems, leaks first (`leak: ...`; `allowed` as in find_leaks)."""
    problems = [f"leak: {leak}" for leak in find_leaks(host, nc, allowed)]
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
            if store.locks.holder(store.path_of(blob_id, "lock")) is not None:
                problems.append(f"{blob_id}: still open between operations")
            # the same checks fsck condemns a blob by: dm devices, loop, refs, abandoned lock
            problems += [f"{blob_id}: {reason}" for reason in stale_reasons(store, blob_id)]
    return problems
