"""Start-up checks: blobstore fsck (condemn stale blobs) and orphan sweeping of devices named like ours."""
from __future__ import annotations

import re
from collections.abc import Callable

from . import diskutil
from .blobstore.blob import delete_blob_state, partition_children, store_held
from .blobstore.store import Blobstore
from .diskutil import LOSETUP_LINE as _LOSETUP_LINE
from .diskutil import file_identities, loop_holds, loop_identity, same_identity
from .errors import CommandError

FSCK_PASSES = 9
def ref_alive(store: Blobstore, ref: str) -> bool:
    """Does the blob a `refs` entry names (`STORE_PATH BLOB_ID`) still exist? A store this process did not open is
    another process's (the node controller's work store, seen by the imager sharing its cache): its blob is
    looked for in either layout, never taken for dead because this process does not know the store."""
    ref_store, _, ref_id = ref.partition(" ")
    other = store.registry.get(ref_store)
    if other is not None:
        return store.io.exists(other.path_of(ref_id, "blocks"))
    return store.io.exists(f"{ref_store}/{ref_id}.blocks") or store.io.exists(f"{ref_store}/{ref_id}/blocks")


def stale_reasons(store: Blobstore, blob_id: str, locked: bool = False) -> list[str]:
    """Why fsck would condemn the blob. `locked`: the caller holds the blob's lock now, so an open mark in its
    lock file is another process's (its owner link is gone: the process died)."""
    io = store.io
    reasons = []
    for name in store.read_lines(blob_id, "dm"):
        if not io.exists(f"/dev/mapper/{name}"):
            reasons.append(f"device {name} is missing")
    loop = io.read(store.path_of(blob_id, "loopback"))
    if loop and not (io.is_block(loop) and loop_holds(io, loop, store.path_of(blob_id, "blocks"))):
        reasons.append(f"{loop} does not hold the blob")
    for ref in store.read_lines(blob_id, "refs"):
        if not ref_alive(store, ref):
            reasons.append(f"referenced by missing blob {ref.partition(' ')[2]}")
    lock = store.path_of(blob_id, "lock")
    if (locked or store.locks.holder(lock) is None) and io.read(lock):
        reasons.append("abandoned")
    return reasons


def _condemned(store: Blobstore, blob_id: str, examiner, locked: bool = False) -> list[str]:
    reasons = stale_reasons(store, blob_id, locked)
    if examiner is not None and examiner(blob_id):
        reasons.append("belongs to no known instance")
    return reasons


def fsck(store: Blobstore, examiner: Callable[[str], bool] | None = None) -> list[str]:
    """Up to 9 passes; a condemned blob still mapped by live blobs only loses its stale `refs` entries."""
    io = store.io
    deleted: list[str] = []
    for _ in range(FSCK_PASSES):
        changed = False
        for blob_id in store.ids():
            if not _condemned(store, blob_id, examiner):
                continue
            with store.locks.try_hold(store.path_of(blob_id, "lock"), 0.05) as held:
                if not held:
                    continue
                # looked at again under the blob's lock: what was seen before taking it may be gone (another
                # process closed the blob and a launch referenced it meanwhile: found by explore --interleavings)
                reasons = _condemned(store, blob_id, examiner, locked=True)
                if not reasons:
                    continue
                live_refs = [r for r in store.read_lines(blob_id, "refs") if ref_alive(store, r)]
                if live_refs:
                    with store_held(store):   # refs change under the store's lock, as every writer's do
                        if live_refs != store.read_lines(blob_id, "refs"):
                            store.write_lines(blob_id, "refs", live_refs)
                            changed = True
                    if "abandoned" in reasons:
                        # opened by a process that died (a clone source mid-copy): the blob is whole and still
                        # mapped, only its open mark is stale
                        io.write(store.path_of(blob_id, "lock"), "")
                        io.log(f"fsck: cleared the abandoned open of {blob_id}")
                    continue
                io.log(f"fsck: deleting stale blob {blob_id}: {'; '.join(reasons)}")
                try:
                    delete_blob_state(store, blob_id)
                except Exception as exc:  # noqa: BLE001 - a device still held: the next pass may free it
                    io.log(f"fsck: could not delete {blob_id} yet: {exc}")
                    continue
                deleted.append(blob_id)
                changed = True
        if not changed:
            break
    io.log(f"fsck {store.path}: deleted {len(deleted)} blob(s)")
    return deleted


_DEVNO = re.compile(r"\((\d+)[:,]\s*(\d+)\)")
_DEP = re.compile(r"\b(\d+):(\d+)\b")


def _dm_numbers(io) -> dict[tuple[int, int], str]:
    """`dmsetup ls`: (major, minor) -> name, in listing order (debian12 prints `(253:N)`, el6 `(253, N)`)."""
    numbers = {}
    for line in io.quiet(["/sbin/dmsetup", "ls"], check=False).stdout.splitlines():
        m = _DEVNO.search(line)
        if m and line.split():
            numbers[(int(m.group(1)), int(m.group(2)))] = line.split()[0]
    return numbers


def _loops(io) -> list[tuple[str, str, tuple[str, int] | None]]:
    """`losetup -a`: (loop device, backing path, backing file's listed identity) triples."""
    return [(m.group(1), m.group(2), loop_identity(line))
            for line in io.quiet(["/sbin/losetup", "-a"], check=False).stdout.splitlines()
            if (m := _LOSETUP_LINE.match(line))]


def loops_over(stores: list[Blobstore], loops: list[tuple[str, str, tuple[str, int] | None]]) -> set[str]:
    """The loops whose backing file is a blob's file in one of `stores`: by device and inode (a loop lists
    the canonical path, and el6 cuts it at 62 characters, so a path prefix says neither yes nor no); a file
    deleted since, by its path below the store's own or canonical directory."""
    if not loops:
        return set()
    io = stores[0].io
    paths = [s.path_of(b, "blocks") for s in stores for b in s.ids()]
    ours = set(file_identities(io, paths).values())
    roots = [root + "/" for s in stores for root in {s.path, s.canonical_path()}]
    out = set()
    for loop, backing, listed in loops:
        if backing.endswith(" (deleted)"):
            if any(backing.removesuffix(" (deleted)").rstrip("*").startswith(r) for r in roots):
                out.add(loop)
        elif any(same_identity(listed, ident) for ident in ours):
            out.add(loop)
    return out


def _dm_backing(backing: str, numbers: dict[tuple[int, int], str]) -> str:
    """The dm name behind a loop's backing path (`/dev/mapper/NAME`, or the kernel's `/dev/dm-N`), or ''."""
    if backing.startswith("/dev/mapper/"):
        return backing[len("/dev/mapper/"):]
    if backing.startswith("/dev/dm-") and backing[8:].isdigit():
        return next((name for (_major, minor), name in numbers.items() if minor == int(backing[8:])), "")
    return ""


def _release_loops(io, over: list[str]) -> None:
    """Loops attached to our dm devices (the imager's grub-probe workaround over the boot partition), unmounted
    first: a run killed during its GRUB install leaves both, and they keep the devices busy."""
    mounts = [line.split(" on ", 1) for line in io.quiet(["mount"], check=False).stdout.splitlines()]
    for loop in over:
        for source, rest in (p for p in mounts if len(p) == 2):
            if source == loop:
                mnt = rest.split(" ", 1)[0]
                io.cmd(["umount", mnt], check=False)
                if mnt.startswith("/tmp/euca-mount-"):
                    io.rmdir(mnt)
        diskutil.loop_detach(io, loop)


def _resting_on(io, stores: list[Blobstore], claimed_dm: set[str], numbers: dict[tuple[int, int], str],
                loops: list[tuple[str, str]]):
    """A test for dm names: does the device map (through other dm devices) onto a claimed device or a loop
    over a file in one of `stores`? `dmsetup table` is read at the first question, so a node with nothing to
    ask about is not listed again."""
    our_loops = {(7, int(loop.rsplit("loop", 1)[1])) for loop in loops_over(stores, loops)}
    deps: dict[str, set[tuple[int, int]]] = {}
    read: list[bool] = []

    def ours(name: str, seen: frozenset = frozenset()) -> bool:
        if not read:
            read.append(True)
            for line in io.quiet(["/sbin/dmsetup", "table"], check=False).stdout.splitlines():
                dm, sep, rest = line.partition(": ")
                if sep:
                    deps.setdefault(dm, set()).update((int(a), int(b)) for a, b in _DEP.findall(rest))
        for dep in deps.get(name, ()):
            if dep in our_loops:
                return True
            below = numbers.get(dep)
            if below is not None and below not in seen and (below in claimed_dm or ours(below, seen | {name})):
                return True
        return False
    return ours


def claimed_devices(stores: list[Blobstore]) -> tuple[set[str], set[str]]:
    """dm names and loop devices that blob metadata accounts for; a claimed device's partition maps
    (parted/kpartx name them NAMEpN or NAMEN) count as claimed too."""
    io = stores[0].io
    claimed_dm: set[str] = set()
    claimed_loops: set[str] = set()
    for store in stores:
        for blob_id in store.ids():
            claimed_dm.update(store.read_lines(blob_id, "dm"))
            loop = io.read(store.path_of(blob_id, "loopback"))
            if loop:
                claimed_loops.add(loop)
    claimed_dm |= {child for c in list(claimed_dm) for child in partition_children(c)}
    return claimed_dm, claimed_loops


def sweep_orphans(stores: list[Blobstore], prefix: str = "euca-") -> list[str]:
    """Devices named like ours that no blob claims (a crash between a kernel change and its metadata
    write), and loops over files in our stores that no blob records. Removes them; returns what went."""
    io = stores[0].io
    claimed_dm, claimed_loops = claimed_devices(stores)
    numbers, loops = _dm_numbers(io), _loops(io)     # each listing read once
    orphans = [n for n in numbers.values() if n.startswith(prefix) and n != "euca-zero" and n not in claimed_dm]
    # the prefix is shared (the imager names its devices euca- too): only what rests on our stores goes
    ours = _resting_on(io, stores, claimed_dm, numbers, loops)
    orphans = [n for n in orphans if ours(n)]
    removed = [loop for loop, backing, _ in loops
               if (name := _dm_backing(backing, numbers)) and (name in claimed_dm or ours(name))]
    if removed:
        _release_loops(io, removed)
    # a device stacked on another orphan goes first; each removal waits out a transient busy as teardown's does
    for _ in range(len(orphans) + 1):
        progress = False
        for name in [n for n in orphans if n not in removed]:
            try:
                diskutil.dm_remove(io, name)
            except CommandError:
                continue
            removed.append(name)
            progress = True
        if not progress:
            break
    for loop in sorted(loops_over(stores, loops) - claimed_loops, key=lambda d: int(d.rsplit("loop", 1)[1])):
        diskutil.loop_detach(io, loop)
        removed.append(loop)
    return removed
