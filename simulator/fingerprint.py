"""A simulated node's state as one digest, read without running a command (a command moves the virtual clock
and counts toward faults' matches, which would change the run being looked at).

Two runs of one scenario whose nodes have equal fingerprints at the same step go on the same way, up to the
virtual time: every device and its table, every file's metadata and bytes (a file's digest is kept until its
bytes change: a state is read in the time it takes to hash what changed since the last one), the random state,
pending timed holds as seconds from now, running domains, and the fault table's counters. The time itself is
left out: a retry's pause moves every later time stamp by the same amount and keeps their order (the LRU
purge compares modification times only with each other)."""
from __future__ import annotations

import hashlib

from .fs.memfs import MemoryFS

# listings whose outputs cover the kernel's devices: loop bindings, dm tables, dm states and open counts,
# snapshot fill, mounts (inactive tables, which no listing shows, are read from the devices)
_LISTINGS = (["losetup", "-a"], ["dmsetup", "table"], ["dmsetup", "info", "-c"], ["dmsetup", "status"], ["mount"])


def file_digest(inode) -> str:
    """The digest of a regular file's bytes: its non-zero pages, by index, and its size; kept until they change."""
    if inode.digest[0] != inode.gen:
        h = hashlib.blake2b(b"%d\n" % inode.size, digest_size=20)
        pages = inode.data.pages
        for index in sorted(pages):
            h.update(b"%d\n" % index)
            h.update(pages[index])
        inode.digest = (inode.gen, h.hexdigest())
    return inode.digest[1]


class _Text:
    """Collects what would be hashed, to show where two states differ."""

    def __init__(self):
        self.parts: list[bytes] = []

    def update(self, data: bytes) -> None:
        self.parts.append(data)

    def hexdigest(self) -> str:
        return b"".join(self.parts).decode("utf-8", "surrogateescape")


def node_fingerprint(node, skip_faults: tuple = (), explain: bool = False) -> str:
    """The digest of `node`'s state (see the module's docstring). `skip_faults`: faults of the table left out
    (a sweep's own, spent, which the run compared against never had). `explain`: the text itself, not its digest."""
    h = _Text() if explain else hashlib.blake2b(digest_size=20)
    for argv in _LISTINGS:
        # the tools' own handlers, called directly: the same text a command would print, without the command
        result = node.tools[argv[0]](node, argv, None)
        h.update(f"{argv} {result.rc}\n{result.stdout}{result.stderr}".encode("utf-8", "surrogateescape"))
    for key in sorted(node.kernel.devices):   # tables loaded and not yet resumed: no listing shows them
        inactive = getattr(node.kernel.devices[key], "inactive", None)
        if inactive:
            h.update(f"{key} inactive {[(t.start, t.length, type(t).__name__, t.table_args()) for t in inactive]}\n"
                     .encode())
    filesystems = [node.kernel.rootfs] + [m.fs for m in node.kernel.vfs.mounts if isinstance(m.fs, MemoryFS)]
    for fs in dict.fromkeys(filesystems):
        h.update(f"fs {fs.dev} next {fs._next_ino} pinned {sorted(fs.pinned.items())}\n".encode())
        for ino in sorted(fs.inodes):
            i = fs.inodes[ino]
            entries = sorted(i.entries.items()) if i.entries is not None else None
            data = file_digest(i) if i.data is not None else ""
            h.update(f"{ino} {i.mode:o} {i.nlink} {i.uid} {i.gid} {i.size} {i.target!r} {i.rdev} {entries} {data}\n"
                     .encode("utf-8", "surrogateescape"))
    h.update(repr(node.rng._rng.getstate()).encode())
    now = node.clock.now
    h.update(repr([(round(when - now, 6), dev.key, holder) for when, dev, holder in node.timed_holds]).encode())
    hv = node.hypervisor
    if hv is not None:
        h.update(repr(sorted((d.name, [dev.key for dev in d.disks]) for d in hv.domains.values())).encode())
    h.update(repr([(f.match, f.nth, f.times, f.seen, f.fired, f.crash, f.after) for f in node.faults.faults
                   if not any(f is s for s in skip_faults)]).encode())
    h.update(repr(sorted(node.processes)).encode())
    return h.hexdigest()
