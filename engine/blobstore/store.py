"""A blobstore: a directory of blobs with a size limit, the NC's *cache* (directory format, LRU) or *work* (files).

Store metadata is `<store>/.blobstore`; per-blob files are `<store>/<id>.<suffix>` (files format) or
`<store>/<id>/<suffix>` (directory format). Sizes are accounted in 512-byte blocks, as the original does.
"""
from __future__ import annotations

import contextlib
import enum
import random
from dataclasses import dataclass

from engine.errors import EngineError
from engine.nodeio import NodeIO

from .locks import LockTable, LockTimeout

SUFFIXES = ("blocks", "lock", "dm", "deps", "loopback", "sig", "refs", "hollow")
STORE_LOCK_TIMEOUT = 0.5
SIBLING_STORE_WAIT = 30.0
FORMATS = {"files": 1, "directory": 2}
REVOCATIONS = {"none": 1, "lru": 2}
FILE_PERM, DIR_PERM = 0o660, 0o771      # BLOBSTORE_FILE_PERM, BLOBSTORE_DIRECTORY_PERM
SNAPSHOTS = {"none": 1, "dm": 2}


class BlobCode(enum.Enum):
    """The blobstore errors of the original (its BLOBSTORE_ERROR_*) that the engine raises or acts on."""
    NOENT = "no such blob"
    EXIST = "blob exists"
    AGAIN = "locked: try again"
    NOSPC = "no space left in the store"
    SIGNATURE = "signature or size mismatch"
    INVAL = "invalid argument"
    MFILE = "too many open blobs"


class BlobError(EngineError):
    """`code` is the blobstore error the original returns (a BlobCode)."""

    def __init__(self, code: BlobCode, message: str):
        super().__init__(message)
        self.code = code


class LockContention(BlobError):
    """AGAIN because a lock (a blob's, or the store's) was held by someone else for the whole timeout: worth
    waiting for, unlike AGAIN for a blob other blobs still map. Cleanup retries these (never drops them)."""

    def __init__(self, message: str):
        super().__init__(BlobCode.AGAIN, message)


@dataclass
class BlobInfo:
    id: str
    size_bytes: int          # file size minus what is mapped in from other blobs
    mtime: float
    opened: bool
    abandoned: bool
    mapped: bool             # `refs` non-empty: other blobs map this one
    backed: bool             # `deps` non-empty: this blob maps others
    hollow: bool

    @property
    def in_use(self) -> bool:
        return self.opened or self.mapped or self.backed


def lines_of(text: str | None) -> list[str]:
    """A metadata file's entries: its non-empty lines (an absent or empty file has none)."""
    return [line for line in (text or "").split("\n") if line]


def round_up_blocks(size_bytes: int) -> int:
    return (size_bytes + 511) // 512


class Blobstore:
    def __init__(self, io: NodeIO, locks: LockTable, path: str, limit_blocks: int, revocation: str = "none",
                 fmt: str = "files", snapshot: str = "dm", registry: dict | None = None, owner: str = "nc"):
        self.io, self.locks, self.path = io, locks, path.rstrip("/")
        self.limit_blocks, self.revocation, self.format, self.snapshot = limit_blocks, revocation, fmt, snapshot
        self.registry = registry if registry is not None else {}
        self.registry[self.path] = self
        self.owner = owner  # written into lock files as `<owner>/<thread>`
        self.dm_prefix = "euca-"   # NC's; a per-run prefix keeps parallel runs on one real node apart
        self._canonical: str | None = None

    def canonical_path(self) -> str:
        """The store's directory with symlinks resolved (an instances directory moved to a big disk behind a
        link): the path `losetup` lists its files under. Read once."""
        if self._canonical is None:
            found = self.io.read_cmd(["readlink", "-f", self.path])
            self._canonical = found.stdout.strip() if found.rc == 0 and found.stdout.strip() else self.path
        return self._canonical

    @classmethod
    def open(cls, io, locks, path, limit_blocks, revocation="none", fmt="files", snapshot="dm", registry=None,
             owner="nc", seed=0) -> Blobstore:
        """Create or reopen: a different limit is rewritten, a different format or snapshot policy is an error,
        and so is a store another node claimed (its `node:` line, written by the first node to open it)."""
        store = cls(io, locks, path, limit_blocks, revocation, fmt, snapshot, registry, owner)
        meta_path = f"{store.path}/.blobstore"
        store.make_dirs(store.path)
        text = io.read(meta_path)
        node = io.node_name()
        if text and len(text) >= 30:
            fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
            if int(fields.get("snapshot", 0)) != SNAPSHOTS[snapshot]:
                raise BlobError(BlobCode.INVAL, f"{path}: 'snapshot_policy' does not match existing blobstore")
            if int(fields.get("format", 0)) != FORMATS[fmt]:
                raise BlobError(BlobCode.INVAL, f"{path}: 'format' does not match existing blobstore")
            claimed = fields.get("node", "")
            if node and claimed and claimed != node:
                raise BlobError(BlobCode.INVAL, f"{path}: shared between nodes: node '{claimed}' uses this "
                                                f"blobstore (this is '{node}'). A blobstore is one node's: its locks "
                                                f"name processes on that node and its fsck deletes what no process "
                                                f"there holds. Give each node its own instances path, or remove "
                                                f"{meta_path} if '{claimed}' is gone for good")
            if int(fields.get("limit", 0)) == limit_blocks and (claimed or not node):
                return store
            store_id = fields.get("id", "")
        else:
            rng = random.Random(f"{seed}:{path}")
            store_id = "".join(f"{rng.getrandbits(31):08x}" for _ in range(3))
        store.write_file(meta_path, f"id: {store_id}\nlimit: {limit_blocks}\nrevocation: {REVOCATIONS[revocation]}\n"
                                    f"snapshot: {SNAPSHOTS[snapshot]}\nformat: {FORMATS[fmt]}\n"
                                    + (f"node: {node}\n" if node else ""))
        return store

    # files, with the original's modes ----------------------------------------------------------
    def write_file(self, path: str, text: str) -> None:
        self.io.write_with_mode(path, text, FILE_PERM)

    def restrict(self, path: str) -> None:
        """BLOBSTORE_FILE_PERM: no other user reads a blob's metadata or data, none writes anything."""
        self.io.chmod(FILE_PERM, path)

    def make_dirs(self, path: str) -> None:
        """BLOBSTORE_DIRECTORY_PERM on the store and on every directory a blob id's '/' makes below it."""
        self.io.mkdirs(path)
        rel = path[len(self.path):].strip("/").split("/") if path != self.path else []
        levels = [self.path] + [f"{self.path}/{'/'.join(rel[:i + 1])}" for i in range(len(rel)) if rel[i]]
        self.io.chmod(DIR_PERM, *levels)

    # paths ------------------------------------------------------------------------------------
    def path_of(self, blob_id: str, suffix: str) -> str:
        sep = "/" if self.format == "directory" else "."
        return f"{self.path}/{blob_id}{sep}{suffix}"

    def blob_dir(self, blob_id: str) -> str:
        return self.path_of(blob_id, "blocks").rsplit("/", 1)[0]

    def id_of(self, blocks_path: str) -> str:
        rel = blocks_path[len(self.path) + 1:]
        return rel[:-len("/blocks")] if self.format == "directory" else rel[:-len(".blocks")]

    def ids(self, under: str = "") -> list[str]:
        """Every blob id, or those below the id prefix `under` (a directory of the store: one instance's blobs
        without walking the whole work store)."""
        pattern = "blocks" if self.format == "directory" else "*.blocks"
        root = f"{self.path}/{under.strip('/')}" if under else self.path
        return [self.id_of(p) for p in self.io.find(root, pattern)]

    # metadata ---------------------------------------------------------------------------------
    def read_lines(self, blob_id: str, suffix: str) -> list[str]:
        return lines_of(self.io.read(self.path_of(blob_id, suffix)))

    def write_lines(self, blob_id: str, suffix: str, lines: list[str], script=None) -> None:
        """Whole-file rewrite; an empty list deletes the file (empty metadata means 'absent'). `script`: as a
        step of it, not now."""
        path = self.path_of(blob_id, suffix)
        if lines and script is not None:
            script.write(path, "\n".join(lines) + "\n", FILE_PERM)
        elif lines:
            self.write_file(path, "\n".join(lines) + "\n")
        else:
            self.clear(path, script)

    def clear(self, path: str, script=None) -> None:
        """Remove a metadata file; if `rm` fails, empty it (empty means absent to every reader): a stale `refs`
        or `loopback` left by a failed removal would keep a blob in use, or name a loop it no longer holds.
        `script`: as a step of it (engine/script.py), not now."""
        if script is not None:
            script.unlink(path, checked=True, recover=lambda io: io.write_with_mode(path, "", FILE_PERM))
        elif self.io.applet(["rm", "-f", path], check=False).rc != 0:
            self.io.write_with_mode(path, "", FILE_PERM)

    def remove_entry(self, blob_id: str, suffix: str, entry: str, script=None) -> None:
        """The original moves the last line into the removed entry's place, so order is not kept."""
        lines = self.read_lines(blob_id, suffix)
        if entry in lines:
            i = lines.index(entry)
            lines[i] = lines[-1]
            lines.pop()
            self.write_lines(blob_id, suffix, lines, script)

    def add_entry(self, blob_id: str, suffix: str, entry: str, script=None, files: dict | None = None) -> None:
        """`files`: the metadata already read (path -> text), as `locked(read=...)` gives it."""
        path = self.path_of(blob_id, suffix)
        lines = self.read_lines(blob_id, suffix) if files is None else lines_of(files.get(path))
        if entry not in lines:
            self.write_lines(blob_id, suffix, lines + [entry], script)

    # in-use and accounting --------------------------------------------------------------------
    def info(self, blob_id: str, size_mtime: tuple[int, float] | None = None) -> BlobInfo:
        blocks = self.path_of(blob_id, "blocks")
        if size_mtime is None:
            size_mtime = self.io.stat([blocks]).get(blocks, (0, 0.0))
        size, mtime = size_mtime
        if self.io.fast:
            return self._info_batched(blob_id, size, mtime)
        deps = self.read_lines(blob_id, "deps")
        mapped_in = sum(int(d.split()[4]) * 512 for d in deps if len(d.split()) == 5 and d.split()[2] == "map")
        lock_path = self.path_of(blob_id, "lock")
        opened = self.locks.holder(lock_path) is not None
        abandoned = not opened and bool(self.io.read(lock_path))
        # BACKED counts `dm` too (the 4.x fix, 9bc6d2a4f3): a zero-snapshot blob has devices but no deps,
        # and closing it must not detach the loop its own devices sit on.
        return BlobInfo(blob_id, max(0, size - mapped_in), mtime, opened, abandoned,
                        bool(self.read_lines(blob_id, "refs")), bool(deps or self.read_lines(blob_id, "dm")),
                        self.io.exists(self.path_of(blob_id, "hollow")))

    INFO_FILES = ("deps", "lock", "refs", "dm", "hollow")

    def _info_batched(self, blob_id: str, size: int, mtime: float) -> BlobInfo:
        """`info` from one read of the blob's metadata files (the fast path)."""
        return self.info_from(blob_id, size, mtime,
                              self.io.read_files([self.path_of(blob_id, s) for s in self.INFO_FILES]))

    def info_from(self, blob_id: str, size: int, mtime: float, files: dict[str, str]) -> BlobInfo:
        """`info` from metadata files already read (path -> contents, for those that exist)."""
        def lines(suffix: str) -> list[str]:
            return lines_of(files.get(self.path_of(blob_id, suffix)))
        deps = lines("deps")
        mapped_in = sum(int(d.split()[4]) * 512 for d in deps if len(d.split()) == 5 and d.split()[2] == "map")
        opened = self.locks.holder(self.path_of(blob_id, "lock")) is not None
        return BlobInfo(blob_id, max(0, size - mapped_in), mtime, opened,
                        not opened and bool(files.get(self.path_of(blob_id, "lock"))), bool(lines("refs")),
                        bool(deps or lines("dm")), self.path_of(blob_id, "hollow") in files)

    def scan(self, exclude: str | None = None) -> list[BlobInfo]:
        ids = [i for i in self.ids() if i != exclude]
        stats = self.io.stat([self.path_of(i, "blocks") for i in ids])
        return [self.info(i, stats.get(self.path_of(i, "blocks"), (0, 0.0))) for i in ids]

    def used_blocks(self, infos: list[BlobInfo]) -> int:
        return sum(0 if b.hollow else round_up_blocks(b.size_bytes) for b in infos)

    def lock_store(self, timeout: float = STORE_LOCK_TIMEOUT, read: list[str] | None = None):
        """`read`: metadata files to read with the link that takes the lock (NodeIO.link_and_read); returns
        their contents (path -> text, for those there), or None if the caller is to read them."""
        # held by one of this process's own build workers, the store is waited for longer than NC's 0.5 s: its
        # holder is making progress, and giving up throws away the artifact built so far (a snapshot and its
        # loops) to build it again. A holder waits for no other lock without a short timeout, so no deadlock.
        siblings = SIBLING_STORE_WAIT if self.io.workers.count > 1 else None
        try:
            found = self.locks.acquire(f"{self.path}/.blobstore", timeout, in_process=siblings,
                                       read=([], read) if read and self.io.fast else None)
        except LockTimeout:
            raise LockContention(f"{self.path}: blobstore is locked") from None
        return found[1] if found is not None else None

    @contextlib.contextmanager
    def locked(self, timeout: float = STORE_LOCK_TIMEOUT, read: list[str] | None = None):
        """The store lock held. Steps added to the script it yields run when the block ends, with the lock's
        release as their last step: one program on a fast-path node. Nothing in the block may read what a
        step will write. `read`: files to read as the lock is taken; it then yields (script, {path: text}),
        the contents of those there."""
        found = self.lock_store(timeout, read)
        script = self.io.script()
        try:
            if read is not None and found is None:
                found = self.io.read_files(read)
            yield script if read is None else (script, found)
        except BaseException:
            self.unlock_store()
            raise
        self.unlock_store(script)

    def unlock_store(self, script=None) -> None:
        """`script`: run it, with the release as its last step (one program on the node)."""
        if script is None:
            self.locks.release(f"{self.path}/.blobstore")
        else:
            self.locks.release_after(f"{self.path}/.blobstore", script)
