"""The node's own root filesystem, kept in memory; regular files are sparse."""
from __future__ import annotations

import errno
import stat as st

from simulator.sparse import SparseData

from .base import FileSystem, FsError, Stat, check_name


class MemInode:
    __slots__ = ("ino", "mode", "nlink", "uid", "gid", "mtime", "data", "size", "entries", "target", "rdev", "gen",
                 "digest")

    def __init__(self, ino: int, mode: int, mtime: float):
        self.ino = ino
        self.mode = mode
        self.nlink = 1
        self.uid = 0
        self.gid = 0
        self.mtime = mtime
        self.data: SparseData | None = None
        self.size = 0
        self.entries: dict[str, int] | None = None
        self.target = ""
        self.rdev: tuple[int, int] | None = None
        self.gen = 0               # bumped by every change of the bytes: a digest of them (`digest`) is kept until
        self.digest = (-1, "")     # then (simulator/fingerprint.py), as (gen, hex digest)


class MemoryFS(FileSystem):
    def __init__(self, dev: int, clock, first_ino: int = 2, ino_stride: int = 1):
        # bumped when a name goes away: a path that resolved stays resolved while names are only added, so
        # path lookups may be cached until then
        self.generation = 0
        self.dev = dev
        self.clock = clock
        self.inodes: dict[int, MemInode] = {}
        self._next_ino = first_ino
        self._stride = ino_stride
        root = self._new(st.S_IFDIR | 0o755)
        root.entries = {}
        root.nlink = 2
        self.root_ino = root.ino
        self.parent_of: dict[int, int] = {root.ino: root.ino}
        # Inodes held open by the kernel (a loop device's backing file) outlive their last name.
        self.pinned: dict[int, int] = {}

    def _new(self, mode: int) -> MemInode:
        inode = MemInode(self._next_ino, mode, self.clock.now)
        self._next_ino += self._stride
        self.inodes[inode.ino] = inode
        return inode

    def _get(self, ino: int) -> MemInode:
        try:
            return self.inodes[ino]
        except KeyError:
            raise FsError(errno.ENOENT) from None

    def _dir(self, ino: int) -> MemInode:
        inode = self._get(ino)
        if inode.entries is None:
            raise FsError(errno.ENOTDIR)
        return inode

    def _add(self, dir_ino: int, name: str, inode: MemInode) -> int:
        check_name(name)
        parent = self._dir(dir_ino)
        if name in parent.entries:
            raise FsError(errno.EEXIST)
        parent.entries[name] = inode.ino
        parent.mtime = self.clock.now
        return inode.ino

    def lookup(self, dir_ino, name):
        if name == ".":
            return dir_ino
        if name == "..":
            return self.parent_of.get(dir_ino, self.root_ino)
        inode = self.inodes.get(dir_ino)   # the path walk's innermost step: _dir's checks, inlined
        if inode is None or inode.entries is None:
            return self._dir(dir_ino).entries.get(name)   # raises as _dir does
        return inode.entries.get(name)

    def mode_of(self, ino):
        inode = self.inodes.get(ino)
        return self._get(ino).mode if inode is None else inode.mode

    def getattr(self, ino):
        i = self._get(ino)
        size = i.size if i.entries is None else 4096
        blocks = (i.data.allocated_bytes // 512) if i.data is not None else (8 if i.entries is not None else 0)
        return Stat(i.ino, i.mode, i.nlink, i.uid, i.gid, size, i.mtime, self.dev, blocks, i.rdev)

    def readdir(self, dir_ino):
        return sorted(self._dir(dir_ino).entries.items())

    def mkdir(self, dir_ino, name, mode, uid=0, gid=0):
        inode = self._new(st.S_IFDIR | (mode & 0o7777))
        inode.entries = {}
        inode.nlink = 2
        inode.uid, inode.gid = uid, gid
        try:
            self._add(dir_ino, name, inode)
        except FsError:
            del self.inodes[inode.ino]
            raise
        self.parent_of[inode.ino] = dir_ino
        self._get(dir_ino).nlink += 1
        return inode.ino

    def create(self, dir_ino, name, mode, uid=0, gid=0):
        inode = self._new(st.S_IFREG | (mode & 0o7777))
        inode.data = SparseData()
        inode.uid, inode.gid = uid, gid
        try:
            return self._add(dir_ino, name, inode)
        except FsError:
            del self.inodes[inode.ino]
            raise

    def symlink(self, dir_ino, name, target):
        inode = self._new(st.S_IFLNK | 0o777)
        inode.target = target
        inode.size = len(target.encode())
        try:
            return self._add(dir_ino, name, inode)
        except FsError:
            del self.inodes[inode.ino]
            raise

    def mknod(self, dir_ino, name, mode, rdev):
        inode = self._new(mode)
        inode.rdev = rdev
        try:
            return self._add(dir_ino, name, inode)
        except FsError:
            del self.inodes[inode.ino]
            raise

    def mknod_many(self, dir_ino, nodes) -> None:
        """FileSystem.mknod_many without a lookup and name check per node: boot makes hundreds."""
        parent = self._dir(dir_ino)
        entries, now = parent.entries, self.clock.now
        for name, mode, rdev in nodes:
            if name not in entries:
                inode = MemInode(self._next_ino, mode, now)
                self._next_ino += self._stride
                self.inodes[inode.ino] = inode
                inode.rdev = rdev
                entries[name] = inode.ino
        parent.mtime = now

    def readlink(self, ino):
        inode = self._get(ino)
        if not st.S_ISLNK(inode.mode):
            raise FsError(errno.EINVAL)
        return inode.target

    def _drop(self, inode: MemInode) -> None:
        inode.nlink -= 1
        if inode.nlink <= 0 and not self.pinned.get(inode.ino):
            self.inodes.pop(inode.ino, None)

    def pin(self, ino: int) -> MemInode:
        """Keep the inode alive while a loop device holds it (as the kernel's struct file does); returns it."""
        self.pinned[ino] = self.pinned.get(ino, 0) + 1
        return self._get(ino)

    def unpin(self, ino: int) -> None:
        self.pinned[ino] -= 1
        if not self.pinned[ino]:
            del self.pinned[ino]
            inode = self.inodes.get(ino)
            if inode is not None and inode.nlink <= 0:
                del self.inodes[ino]

    def is_unlinked(self, ino: int) -> bool:
        inode = self.inodes.get(ino)
        return inode is None or inode.nlink <= 0

    def unlink(self, dir_ino, name):
        parent = self._dir(dir_ino)
        ino = parent.entries.get(name)
        if ino is None:
            raise FsError(errno.ENOENT)
        inode = self._get(ino)
        if inode.entries is not None:
            raise FsError(errno.EISDIR)
        del parent.entries[name]
        self.generation += 1
        parent.mtime = self.clock.now
        self._drop(inode)

    def rmdir(self, dir_ino, name):
        parent = self._dir(dir_ino)
        ino = parent.entries.get(name)
        if ino is None:
            raise FsError(errno.ENOENT)
        inode = self._dir(ino)
        if inode.entries:
            raise FsError(errno.ENOTEMPTY)
        del parent.entries[name]
        self.generation += 1
        parent.nlink -= 1
        self.inodes.pop(ino, None)
        self.parent_of.pop(ino, None)

    def link(self, dir_ino, name, ino):
        inode = self._get(ino)
        if inode.entries is not None:
            raise FsError(errno.EPERM)
        self._add(dir_ino, name, inode)
        inode.nlink += 1

    def _file(self, ino: int) -> MemInode:
        inode = self._get(ino)
        if inode.entries is not None:
            raise FsError(errno.EISDIR)
        if inode.data is None:
            raise FsError(errno.EINVAL)
        return inode

    def read(self, ino, offset, length):
        inode = self._file(ino)
        length = max(0, min(length, inode.size - offset))
        return inode.data.read(offset, length)

    def write(self, ino, offset, data):
        inode = self._file(ino)
        inode.gen += 1
        inode.data.write(offset, data)
        inode.size = max(inode.size, offset + len(data))
        inode.mtime = self.clock.now

    def zero(self, ino, offset, length):
        inode = self._file(ino)
        inode.gen += 1
        inode.data.zero(offset, length)
        inode.size = max(inode.size, offset + length)

    def truncate(self, ino, size):
        inode = self._file(ino)
        inode.gen += 1
        if size < inode.size:
            inode.data.truncate(size)
        inode.size = size
        inode.mtime = self.clock.now

    def data_ranges(self, ino, offset, length):
        inode = self._file(ino)
        end = min(offset + length, inode.size)
        return inode.data.data_ranges(offset, max(0, end - offset))

    def setattr(self, ino, mode=None, uid=None, gid=None, mtime=None):
        inode = self._get(ino)
        if mode is not None:
            inode.mode = (inode.mode & ~0o7777) | (mode & 0o7777)
        if uid is not None:
            inode.uid = uid
        if gid is not None:
            inode.gid = gid
        if mtime is not None:
            inode.mtime = mtime
