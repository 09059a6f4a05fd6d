"""Block blobs: open (create, size, sig, loop), close, delete, and the exact teardown order of delete_blob_state."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

from engine import diskutil
from engine.nodeio import CommandError

from .locks import LockTimeout, patiently
from .store import FILE_PERM, SUFFIXES, BlobCode, BlobError, Blobstore, LockContention, lines_of, round_up_blocks

MAX_ID = 4096


@dataclass
class Blockblob:
    store: Blobstore
    id: str
    size_bytes: int
    loop: str = ""
    dm: list[str] = field(default_factory=list)
    hollow: bool = False
    created: bool = False

    @property
    def blocks_path(self) -> str:
        return self.store.path_of(self.id, "blocks")

    @property
    def device(self) -> str:
        """The main dm device when the blob is a clone, else its loop device."""
        return f"/dev/mapper/{self.dm[-1]}" if self.dm else self.loop

    @property
    def dm_base(self) -> str:
        return self.store.dm_prefix + self.id.replace("/", "-")

    @property
    def is_in_cache(self) -> bool:
        return self.store.revocation == "lru"


OPEN_FILES = ("sig", "hollow", "dm", "loopback")   # what opening an existing blob reads


def open_blob(store: Blobstore, blob_id: str, size_bytes: int = 0, create: bool = False, excl: bool = False,
              hollow: bool = False, sig: str | None = None, timeout: float = 0.05) -> Blockblob:
    """blockblob_open: exclusive per-blob lock, space check and LRU purge on create, sig check on open,
    and always a loop device."""
    io = store.io
    if not blob_id or len(blob_id) > MAX_ID or blob_id.startswith("/") or ".." in blob_id.split("/"):
        raise BlobError(BlobCode.INVAL, f"invalid blob id '{blob_id}'")
    if create and size_bytes <= 0:
        raise BlobError(BlobCode.INVAL, f"cannot create blob {blob_id} of size {size_bytes}")
    lock_path = store.path_of(blob_id, "lock")
    blob_dir = store.blob_dir(blob_id)
    made_dir = create and not io.is_dir(blob_dir)
    if made_dir:
        store.make_dirs(blob_dir)
    wanted = ([store.path_of(blob_id, "blocks")], [store.path_of(blob_id, s) for s in OPEN_FILES])
    try:
        # on the fast path, read with the link that takes the lock (one program where the node has busybox)
        found = store.locks.acquire(lock_path, timeout, read=wanted if io.fast else None)
    except LockTimeout:
        raise LockContention(f"blob {blob_id} is locked") from None
    except Exception:
        if made_dir:
            _rmdirs(store, blob_id)
        raise
    bb = Blockblob(store, blob_id, size_bytes)
    locked = marking = False
    files: dict[str, str] | None = None   # the fast path's metadata files, read with the blocks file's stat
    try:
        if io.fast:
            stats, files = found if found is not None else io.stat_and_read(*wanted)
        else:
            stats = io.stat([bb.blocks_path])
        exists = bb.blocks_path in stats
        if exists and create and excl:
            raise BlobError(BlobCode.EXIST, f"blob {blob_id} already exists")
        if not exists and not create:
            raise BlobError(BlobCode.NOENT, f"blob {blob_id} does not exist")
        if not exists:
            _create(store, bb, hollow, sig, lock_path)
        else:
            actual = stats[bb.blocks_path][0]
            if size_bytes and actual != size_bytes:
                raise BlobError(BlobCode.SIGNATURE, f"blob {blob_id} has size {actual}, expected {size_bytes}")
            stored_sig = (files.get(store.path_of(blob_id, "sig")) if files is not None
                          else io.read(store.path_of(blob_id, "sig"))) or ""
            if sig and stored_sig != sig:
                raise BlobError(BlobCode.SIGNATURE, f"signature mismatch on blob {blob_id}")
            bb.size_bytes = actual
            if files is not None:
                bb.hollow = store.path_of(blob_id, "hollow") in files
                bb.dm = lines_of(files.get(store.path_of(blob_id, "dm")))
            else:
                bb.hollow = io.exists(store.path_of(blob_id, "hollow"))
                bb.dm = store.read_lines(blob_id, "dm")
        if not bb.created:
            marking = True    # from here the lock file may say open, even if its write fails half-way
            store.write_file(lock_path, f"{store.owner}/{store.locks.thread_tag()}")
        locked = True
        # a record read before the blob was made still holds: nothing writes `loopback` but its lock's holder
        _ensure_loop(store, bb, files.get(store.path_of(blob_id, "loopback"), "") if files is not None else None)
        return bb
    except Exception:
        if bb.created:
            io.unlink(*(store.path_of(blob_id, s) for s in SUFFIXES), lock_path + ".owner")
            _rmdirs(store, blob_id)
        elif locked or marking:
            _unmark_open(store, lock_path)
        elif made_dir:
            io.unlink(lock_path + ".owner")
            _rmdirs(store, blob_id)
        store.locks.release(lock_path)
        raise


def _create(store: Blobstore, bb: Blockblob, hollow: bool, sig: str | None, lock_path: str) -> None:
    with store.locked() as script:
        if not hollow:
            ensure_space(store, bb.id, round_up_blocks(bb.size_bytes))
        bb.created = True
        script.truncate(bb.blocks_path, bb.size_bytes)
        # marked open before anything else is written: a process killed from here on leaves an abandoned blob,
        # which the next start's fsck deletes, never one that looks whole (a cache blob killed after its sig
        # was written used to be reused, empty, by the next launch)
        script.write(lock_path, f"{store.owner}/{store.locks.thread_tag()}", FILE_PERM)
        script.chmod(FILE_PERM, bb.blocks_path)
        if hollow:
            script.write(store.path_of(bb.id, "hollow"), "this blob is hollow\n", FILE_PERM)
        if sig:
            script.write(store.path_of(bb.id, "sig"), sig, FILE_PERM)
    bb.hollow = bb.hollow or hollow


def _ensure_loop(store: Blobstore, bb: Blockblob, recorded: str | None = None) -> None:
    """A recorded loop is trusted if it is still a block device (only fsck checks what it points at).
    `recorded`: the loopback file as already read, if it was."""
    path = store.path_of(bb.id, "loopback")
    if recorded is None:
        recorded = store.io.read(path)
    recorded = recorded or ""
    if recorded and store.io.is_block(recorded):
        bb.loop = recorded
        return
    loop = diskutil.loop_attach(store.io, bb.blocks_path)
    try:
        store.write_file(path, loop)
    except Exception:
        # a loop no record names would outlive the blob (rollback finds loops through `loopback`): undo it, and
        # the record too, in case its write landed before the step that failed (`chmod` after `tee`)
        diskutil.loop_detach(store.io, loop)
        store.clear(path)
        raise
    bb.loop = loop


def in_use(store: Blobstore, blob_id: str) -> set[str]:
    info = store.info(blob_id)
    return {name for name, on in (("opened", info.opened), ("abandoned", info.abandoned),
                                  ("mapped", info.mapped), ("backed", info.backed)) if on}


def close_blob(bb: Blockblob) -> None:
    """Keep the loop only while other blobs map this one or it maps others."""
    store = bb.store
    lock_path = store.path_of(bb.id, "lock")
    if store.io.fast:
        _close_batched(store, bb, lock_path)
        return
    try:
        try:
            if store.io.exists(bb.blocks_path) and not ({"mapped", "backed"} & in_use(store, bb.id)):
                _detach_own_loop(store, bb.id)
        except Exception:
            # whether others still map it could not be read: its loop stays (detaching one a dm table holds would
            # autoclear it under them), but we no longer have it open, and the mark says so
            _unmark_open(store, lock_path)
            raise
        if store.io.exists(lock_path):
            _unmark_open(store, lock_path)
    finally:
        store.locks.release(lock_path)


def _unmark_open(store: Blobstore, lock_path: str, script=None) -> None:
    """Empty the lock file (the blob is no longer open); if that write fails, remove it, which says the same:
    a lock file left naming us would make the blob look abandoned to the next fsck. `script`: as its step."""
    def remove(io) -> None:
        if io.applet(["rm", "-f", lock_path], check=False).rc != 0:
            raise CommandError(f"rm -f {lock_path}", 1, "could not empty or remove the lock file")
    if script is not None:
        script.write(lock_path, "", recover=remove)
        return
    try:
        store.io.write(lock_path, "")
    except CommandError:
        remove(store.io)


def _close_batched(store: Blobstore, bb: Blockblob, lock_path: str) -> None:
    """close_blob on the fast path: one stat of the blocks and metadata files and one read of those with bytes
    answer whether it exists, in-use, the recorded loop and whether the lock file is there; the loopback
    record's removal, the lock file's emptying and the lock's release are then one program."""
    loopback = store.path_of(bb.id, "loopback")
    script = store.io.script()
    try:
        stats, files = store.io.stat_and_read([bb.blocks_path],
                                              [store.path_of(bb.id, s) for s in store.INFO_FILES] + [loopback])
        if bb.blocks_path in stats:
            info = store.info_from(bb.id, *stats[bb.blocks_path], files)
            if not (info.mapped or info.backed):
                _detach_own_loop(store, bb.id, files.get(loopback) or None, known=True, script=script)
        if lock_path in files:
            _unmark_open(store, lock_path, script)
    except Exception:
        # as close_blob: the loop stays, the mark goes
        try:
            _unmark_open(store, lock_path)
        finally:
            store.locks.release(lock_path)
        raise
    except BaseException:
        store.locks.release(lock_path)
        raise
    store.locks.release_after(lock_path, script)


def delete_blob(bb: Blockblob, force: bool = False) -> None:
    """blockblob_delete: a blob other blobs still map is AGAIN unless forced."""
    store = bb.store
    lock_path = store.path_of(bb.id, "lock")
    store.lock_store(timeout=0.5)
    try:
        if not force and store.read_lines(bb.id, "refs"):
            raise BlobError(BlobCode.AGAIN, f"blob {bb.id} is in use by other blobs")
        delete_blob_state(store, bb.id)
    finally:
        store.unlock_store()
    store.locks.release(lock_path)


def _detach_own_loop(store: Blobstore, blob_id: str, loop: str | None = None, known: bool = False,
                     script=None) -> None:
    """Detach the recorded loop only if it still holds this blob: after a reboot it may be gone, or be
    someone else's. `known`: `loop` is the loopback file as already read (None: there is none). `script`: the
    record's removal is its step."""
    path = store.path_of(blob_id, "loopback")
    if not known:
        loop = store.io.read(path)
    if loop and diskutil.loop_holds(store.io, loop, store.path_of(blob_id, "blocks")):
        diskutil.loop_detach(store.io, loop)
    store.clear(path, script)


def partition_children(name: str) -> list[str]:
    """The maps libparted/kpartx may have made for a dm disk's partitions: NAMEp1..9, then NAME1..9."""
    return [f"{name}{sep}{i}" for sep in ("p", "") for i in range(1, 10)]


def remove_dm_devices(store: Blobstore, names: list[str]) -> None:
    """Backwards through the `dm` list, dropping duplicates; parted's partition children go first."""
    if not names:
        return
    # which of the names and their possible partition children exist, in one command whose cost does not grow
    # with the node (listing /dev/mapper did: 18,000 entries on a full node, for every blob deleted)
    unique = list(dict.fromkeys(names))
    candidates = [f"/dev/mapper/{c}" for n in unique for c in partition_children(n)] + \
        [f"/dev/mapper/{n}" for n in unique]
    present = {path.rsplit("/", 1)[1] for path in store.io.stat(candidates)}
    seen: list[str] = []
    for name in reversed(names):
        if name in seen:
            continue
        seen.append(name)
        for child in partition_children(name):
            if child in present:
                diskutil.dm_remove(store.io, child)
        if name in present:
            diskutil.dm_remove(store.io, name)


def ensure_space(store: Blobstore, blob_id: str, needed_blocks: int) -> None:
    """Called with the store locked. LRU stores purge unused blobs, oldest *modification* first, as NC does
    (here, not in Blobstore: purging deletes blobs, which is this module's work)."""
    if not store.limit_blocks:
        return
    infos = store.scan(exclude=blob_id)
    free = store.limit_blocks - store.used_blocks(infos)
    if free >= needed_blocks:
        return
    reclaimable = sum(round_up_blocks(b.size_bytes) for b in infos if not b.opened and not b.hollow)
    if store.revocation != "lru" or free + reclaimable < needed_blocks:
        raise BlobError(BlobCode.NOSPC, f"{store.path}: not enough space for {blob_id} "
                                 f"({needed_blocks} blocks needed, {free} free)")
    if purge_lru(store, needed_blocks - free, exclude=blob_id) < needed_blocks - free:
        raise BlobError(BlobCode.NOSPC, f"{store.path}: could not purge enough from cache")


def purge_lru(store: Blobstore, wanted_blocks: int, exclude: str | None = None) -> int:
    """Called with the store locked: delete unused blobs, least recently modified first, until `wanted_blocks`
    are freed (or none is left to delete); returns the blocks freed."""
    freed = 0
    while freed < wanted_blocks:
        deleted = False
        for b in sorted(store.scan(exclude=exclude), key=lambda b: (b.mtime, b.id)):
            if b.opened or b.mapped:
                continue
            if not purge_victim(store, b.id):
                continue
            freed += round_up_blocks(b.size_bytes)
            deleted = True
            if freed >= wanted_blocks:
                break
        if not deleted:
            break
    return freed


def purge_victim(store: Blobstore, blob_id: str) -> bool:
    """Delete one purge victim, if it is still unused. Opened elsewhere is in use too: another process (the
    imager, a second tool on the store) holds the blob's lock, which this process's table does not know. So
    the victim's lock is taken before deleting it, and its use looked at again under it."""
    with store.locks.try_hold(store.path_of(blob_id, "lock"), 0) as held:
        if not held or store.info(blob_id).mapped:
            return False
        delete_blob_state(store, blob_id)
    return True


@contextlib.contextmanager
def store_held(store: Blobstore):
    """The store's lock for a short critical section: taken (waiting out contention) unless this thread holds
    it already (a purge, a delete under its own store's lock)."""
    if store.locks.holder(f"{store.path}/.blobstore") == threading.get_ident():
        yield
        return
    patiently(store.io.clock, store.lock_store, LockContention)
    try:
        yield
    finally:
        store.unlock_store()


def delete_blob_state(store: Blobstore, blob_id: str) -> None:
    """dm devices (children, main, then -pN-snap/-real/-back), then our entries in our deps' `refs` (detaching a
    dep's loop once nothing uses it), then our own loop, then every file and the emptied directories."""
    remove_dm_devices(store, store.read_lines(blob_id, "dm"))
    store.write_lines(blob_id, "dm", [])
    for dep in store.read_lines(blob_id, "deps"):
        parts = dep.split()
        if len(parts) < 2:
            continue
        dep_store = store.registry.get(parts[0])
        if dep_store is None:
            continue
        # `refs` is read, changed and written back: under its store's lock, as every writer of it does, or a
        # launch's reference written meanwhile is lost, the source looks unused and its loop goes from under
        # the launch's devices (explore --interleavings found it)
        with store_held(dep_store):
            dep_store.remove_entry(parts[1], "refs", f"{store.path} {blob_id}")
            # its loop goes only under its own lock: a launch that opens it meanwhile is about to use that loop
            # (a check before and a detach after another's open lost the launch its snapshot's origin)
            with dep_store.locks.try_hold(dep_store.path_of(parts[1], "lock"), 0) as held:
                if held and dep_store.io.exists(dep_store.path_of(parts[1], "blocks")):
                    if not ({"mapped", "backed"} & in_use(dep_store, parts[1])):
                        _detach_own_loop(dep_store, parts[1])
    store.write_lines(blob_id, "deps", [])
    _detach_own_loop(store, blob_id)
    store.io.unlink(*(store.path_of(blob_id, s) for s in SUFFIXES), store.path_of(blob_id, "lock") + ".owner")
    _rmdirs(store, blob_id)


def _rmdirs(store: Blobstore, blob_id: str) -> None:
    path = store.blob_dir(blob_id)
    while path.startswith(store.path + "/") and store.io.rmdir(path):
        path = path.rsplit("/", 1)[0]


__all__ = ["Blockblob", "open_blob", "close_blob", "delete_blob", "delete_blob_state", "in_use", "purge_lru",
           "CommandError"]
