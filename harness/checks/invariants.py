"""What must hold on a node between any two engine operations (the state machine's invariants, and the
`check_invariants` scenario step)."""
from __future__ import annotations

from engine.blobstore.locks import OWNER_SUFFIX
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
            # the same checks fsck condemns a blob by: dm devices, loop, refs, abandoned lock; fsck cannot take
            # the lock of a blob another live process holds open, so that open is not abandoned
            reasons = stale_reasons(store, blob_id)
            if "abandoned" in reasons and _held_elsewhere(host, store, blob_id):
                reasons.remove("abandoned")
            problems += [f"{blob_id}: {reason}" for reason in reasons]
    return problems


def _held_elsewhere(host, store, blob_id: str) -> bool:
    """Another process on the node holds the blob's lock: its owner link names a process that is not us and
    not gone (as the engine's own lock takeover judges it)."""
    owner = host.run(["readlink", store.path_of(blob_id, "lock") + OWNER_SUFFIX]).stdout.strip()
    return bool(owner) and owner != store.locks.token and not store.locks.holder_dead(owner)
