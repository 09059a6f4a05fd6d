"""ext2/ext3/ext4 in the real on-disk format, living in a block device's bytes.

`make_filesystem` lays out groups as mke2fs does for ext2/ext3 (sparse_super backups,
bitmaps, inode tables, a jbd2 journal inode for ext3/4); `ExtFS` is the mounted view:
directories, files, symlinks, block maps through indirect blocks. Images it writes pass
`e2fsck -fn` (tests/test_ext2.py checks that when e2fsprogs is installed).
"""
from __future__ import annotations

import errno
import stat as st
import struct

from .base import FileSystem, FsError, Stat, check_name
from .buffers import BufferCache
from .ext2alloc import ExtAllocator
from .extgeo import (
    _FT,
    COMPAT_HAS_JOURNAL,
    INCOMPAT_RECOVER,
    JOURNAL_INO,
    MAGIC,
    ROOT_INO,
    Geometry,
)
from .jbd2 import Journal


class ExtFS(ExtAllocator, FileSystem):
    """A mounted ext2/3/4 filesystem on a block device."""

    def __init__(self, dev, clock, read_only: bool = False):
        self.devblk = dev
        self.clock = clock
        self.read_only = read_only
        raw = dev.read(1024, 1024)
        if len(raw) < 1024 or struct.unpack_from("<H", raw, 56)[0] != MAGIC:
            raise FsError(errno.EINVAL, "bad superblock")
        self.sb = bytearray(raw)
        (inodes, blocks, _r, _fb, _fi, fdb, log_bs) = struct.unpack_from("<7I", raw, 0)
        self.block_size = 1024 << log_bs
        bpg, = struct.unpack_from("<I", raw, 32)
        ipg, = struct.unpack_from("<I", raw, 40)
        rev, = struct.unpack_from("<I", raw, 76)
        isize = struct.unpack_from("<H", raw, 88)[0] if rev >= 1 else 128
        groups = -(-(blocks - fdb) // bpg)
        itb = -(-(ipg * isize) // self.block_size)
        gdt = -(-(groups * 32) // self.block_size)
        self.geo = Geometry(self.block_size, blocks, fdb, bpg, groups, ipg, isize, itb, gdt)
        self.root_ino = ROOT_INO
        self.dev = 0
        gdt_at = (fdb + 1) * self.block_size
        self.gd = bytearray(dev.read(gdt_at, groups * 32))
        self.buf = BufferCache(dev, self.block_size, clock)
        self.journal: Journal | None = None
        self._prealloc = [0, 0]       # the locality group's preallocated run for small files: [next, end)

    # -- raw block and metadata access ------------------------------------------------
    def _rblock(self, n: int) -> bytearray:
        return bytearray(self.buf.block(n))

    def _wblock(self, n: int, data: bytes, meta: bool = True) -> None:
        if self.read_only:
            raise FsError(errno.EROFS)
        self.buf.put(n, data, meta)

    def _gd(self, g: int) -> list[int]:
        return list(struct.unpack_from("<IIIHHH", self.gd, g * 32))

    def _set_gd(self, g: int, fields: list[int]) -> None:
        struct.pack_into("<IIIHHH", self.gd, g * 32, *fields)
        self.buf.write((self.geo.first_data_block + 1) * self.block_size + g * 32, bytes(self.gd[g * 32:g * 32 + 32]))

    def _sb_add(self, offset: int, delta: int) -> None:
        value, = struct.unpack_from("<I", self.sb, offset)
        struct.pack_into("<I", self.sb, offset, value + delta)

    def flush_super(self) -> None:
        """ext4_commit_super(): the primary superblock written in place, outside the journal (its free counts
        live in memory until then)."""
        struct.pack_into("<I", self.sb, 48, int(self.clock.now))
        self.devblk.write(1024, bytes(self.sb))
        block, within = divmod(1024, self.block_size)
        if block in self.buf.blocks:
            self.buf.blocks[block][within:within + 1024] = self.sb

    def _journal_super(self) -> None:
        """Creating a non-directory inode logs the superblock block too (measured: `touch` and `cp` do,
        `mkdir` does not)."""
        if self.has_journal:
            self.buf.write(1024, bytes(self.sb))

    # -- inodes -------------------------------------------------------------------------
    def _inode_pos(self, ino: int) -> int:
        if ino < 1 or ino > self.geo.inodes:
            raise FsError(errno.EIO)
        g, index = divmod(ino - 1, self.geo.inodes_per_group)
        table = self._gd(g)[2]
        return table * self.block_size + index * self.geo.inode_size

    def _iget(self, ino: int) -> bytearray:
        return bytearray(self.buf.read(self._inode_pos(ino), 128))

    def _iput(self, ino: int, raw: bytes) -> None:
        if self.read_only:
            raise FsError(errno.EROFS)
        self.buf.write(self._inode_pos(ino), bytes(raw[:128]))

    # -- FileSystem interface -------------------------------------------------------------
    def getattr(self, ino):
        raw = self._iget(ino)
        mode, uid, size, _a, _c, mtime, _d, gid, links, blocks = struct.unpack_from("<HHIIIIIHHI", raw, 0)
        if mode == 0:
            raise FsError(errno.ENOENT)
        rdev = None
        if st.S_ISBLK(mode) or st.S_ISCHR(mode):
            word = struct.unpack_from("<I", raw, 40)[0]
            rdev = ((word >> 8) & 0xFF, word & 0xFF)
        if st.S_ISREG(mode):
            size |= struct.unpack_from("<I", raw, 108)[0] << 32
        return Stat(ino, mode, links, uid, gid, size, float(mtime), self.dev, blocks, rdev)

    def _new_inode(self, dir_ino: int, name: str, mode: int, uid: int, gid: int) -> tuple[int, bytearray]:
        check_name(name)
        if self.lookup(dir_ino, name) is not None:
            raise FsError(errno.EEXIST)
        ino = self._alloc_inode(mode, self._inode_group(dir_ino, name, mode))
        raw = bytearray(128)
        now = int(self.clock.now)
        struct.pack_into("<HHIIIIIHH", raw, 0, mode, uid & 0xFFFF, 0, now, now, now, 0, gid & 0xFFFF, 1)
        self._iput(ino, raw)
        if self.geo.inode_size > 128:
            self.buf.write(self._inode_pos(ino) + 128, struct.pack("<H", 32) + bytes(self.geo.inode_size - 130))
        return ino, raw

    def _link_into(self, dir_ino: int, name: str, ino: int, mode: int) -> None:
        raw = self._iget(dir_ino)
        size = struct.unpack_from("<I", raw, 4)[0]
        need = (8 + len(name.encode()) + 3) & ~3
        encoded = name.encode()
        bs = self.block_size
        for lblk in range(size // bs):
            pblk = self._bmap(raw, lblk, False)
            block = self._rblock(pblk)
            pos = 0
            while pos < bs:
                e_ino, rec_len, name_len = struct.unpack_from("<IHB", block, pos)
                used = (8 + name_len + 3) & ~3 if e_ino else 0
                if rec_len - used >= need:
                    if e_ino:
                        struct.pack_into("<H", block, pos + 4, used)
                        pos += used
                        rec_len -= used
                    self._put_dirent(block, pos, ino, rec_len, encoded, mode)
                    self._touch(raw)   # the directory's times change first, then its block (ext4's order)
                    self._iput(dir_ino, raw)
                    self._wblock(pblk, block)
                    return
                pos += rec_len
        pblk = self._bmap(raw, size // bs, True, (dir_ino - 1) // self.geo.inodes_per_group)
        block = bytearray(bs)
        self._put_dirent(block, 0, ino, bs, encoded, mode)
        self._wblock(pblk, block)
        struct.pack_into("<I", raw, 4, size + bs)
        self._touch(raw)
        self._iput(dir_ino, raw)

    @staticmethod
    def _put_dirent(block: bytearray, pos: int, ino: int, rec_len: int, name: bytes, mode: int) -> None:
        struct.pack_into("<IHBB", block, pos, ino, rec_len, len(name), _FT.get(st.S_IFMT(mode), 0))
        block[pos + 8:pos + 8 + len(name)] = name

    def _touch(self, raw: bytearray) -> None:
        now = int(self.clock.now)
        struct.pack_into("<I", raw, 12, now)
        struct.pack_into("<I", raw, 16, now)

    def _entries(self, dir_ino: int):
        raw = self._iget(dir_ino)
        mode = struct.unpack_from("<H", raw, 0)[0]
        if not st.S_ISDIR(mode):
            raise FsError(errno.ENOTDIR)
        size = struct.unpack_from("<I", raw, 4)[0]
        for lblk in range(size // self.block_size):
            pblk = self._bmap(raw, lblk, False)
            if not pblk:
                continue
            block = self._rblock(pblk)
            pos = prev = 0
            while pos < self.block_size:
                e_ino, rec_len, name_len = struct.unpack_from("<IHB", block, pos)
                if rec_len < 8:
                    break
                if e_ino:
                    yield block[pos + 8:pos + 8 + name_len].decode(errors="surrogateescape"), e_ino, pblk, pos, prev
                prev = pos
                pos += rec_len

    def lookup(self, dir_ino, name):
        for e_name, e_ino, *_ in self._entries(dir_ino):
            if e_name == name:
                return e_ino
        return None

    def readdir(self, dir_ino):
        return sorted((n, i) for n, i, *_ in self._entries(dir_ino) if n not in (".", ".."))

    def mkdir(self, dir_ino, name, mode, uid=0, gid=0):
        ino, raw = self._new_inode(dir_ino, name, st.S_IFDIR | (mode & 0o7777), uid, gid)
        block_no = self._bmap(raw, 0, True, (ino - 1) // self.geo.inodes_per_group)
        block = bytearray(self.block_size)
        self._put_dirent(block, 0, ino, 12, b".", st.S_IFDIR)
        self._put_dirent(block, 12, dir_ino, self.block_size - 12, b"..", st.S_IFDIR)
        self._wblock(block_no, block)
        struct.pack_into("<I", raw, 4, self.block_size)
        struct.pack_into("<H", raw, 26, 2)
        self._iput(ino, raw)
        self._link_into(dir_ino, name, ino, st.S_IFDIR)
        self._adjust_links(dir_ino, 1)
        return ino

    def _adjust_links(self, ino: int, delta: int) -> int:
        raw = self._iget(ino)
        links = struct.unpack_from("<H", raw, 26)[0] + delta
        struct.pack_into("<H", raw, 26, links)
        self._iput(ino, raw)
        return links

    def create(self, dir_ino, name, mode, uid=0, gid=0):
        ino, _ = self._new_inode(dir_ino, name, st.S_IFREG | (mode & 0o7777), uid, gid)
        self._link_into(dir_ino, name, ino, st.S_IFREG)
        self._journal_super()
        return ino

    def mknod(self, dir_ino, name, mode, rdev):
        ino, raw = self._new_inode(dir_ino, name, mode, 0, 0)
        struct.pack_into("<I", raw, 40, (rdev[0] << 8) | rdev[1])
        self._iput(ino, raw)
        self._link_into(dir_ino, name, ino, mode)
        self._journal_super()
        return ino

    def symlink(self, dir_ino, name, target):
        data = target.encode()
        ino, raw = self._new_inode(dir_ino, name, st.S_IFLNK | 0o777, 0, 0)
        if len(data) < 60:
            raw[40:40 + len(data)] = data
            struct.pack_into("<I", raw, 4, len(data))
            self._iput(ino, raw)
        else:
            self._iput(ino, raw)
            self.write(ino, 0, data)
        self._link_into(dir_ino, name, ino, st.S_IFLNK)
        self._journal_super()
        return ino

    def readlink(self, ino):
        raw = self._iget(ino)
        mode, _, size = struct.unpack_from("<HHI", raw, 0)
        if not st.S_ISLNK(mode):
            raise FsError(errno.EINVAL)
        if struct.unpack_from("<I", raw, 28)[0] == 0:
            return bytes(raw[40:40 + size]).decode(errors="surrogateescape")
        return self.read(ino, 0, size).decode(errors="surrogateescape")

    def _remove_entry(self, dir_ino: int, name: str) -> int:
        for e_name, e_ino, pblk, pos, prev in self._entries(dir_ino):
            if e_name == name:
                block = self._rblock(pblk)
                rec_len = struct.unpack_from("<H", block, pos + 4)[0]
                if pos == 0:
                    struct.pack_into("<I", block, 0, 0)
                else:
                    prev_len = struct.unpack_from("<H", block, prev + 4)[0]
                    struct.pack_into("<H", block, prev + 4, prev_len + rec_len)
                self._wblock(pblk, block)
                return e_ino
        raise FsError(errno.ENOENT)

    def _release_inode(self, ino: int) -> None:
        raw = self._iget(ino)
        mode = struct.unpack_from("<H", raw, 0)[0]
        fast_link = st.S_ISLNK(mode) and struct.unpack_from("<I", raw, 28)[0] == 0
        if not (fast_link or st.S_ISBLK(mode) or st.S_ISCHR(mode)):
            for block in self._all_blocks(raw):
                self._free_block(block)
        struct.pack_into("<I", raw, 20, int(self.clock.now))
        struct.pack_into("<H", raw, 26, 0)
        self._iput(ino, raw)
        self._free_bit(1, 4, self.geo.inodes_per_group, ino - 1, 16)
        if st.S_ISDIR(mode):
            g = (ino - 1) // self.geo.inodes_per_group
            gd = self._gd(g)
            gd[5] -= 1
            self._set_gd(g, gd)

    def unlink(self, dir_ino, name):
        ino = self.lookup(dir_ino, name)
        if ino is None:
            raise FsError(errno.ENOENT)
        if self.getattr(ino).is_dir:
            raise FsError(errno.EISDIR)
        self._remove_entry(dir_ino, name)
        if self._adjust_links(ino, -1) <= 0:
            self._release_inode(ino)

    def rmdir(self, dir_ino, name):
        ino = self.lookup(dir_ino, name)
        if ino is None:
            raise FsError(errno.ENOENT)
        if self.readdir(ino):
            raise FsError(errno.ENOTEMPTY)
        self._remove_entry(dir_ino, name)
        self._release_inode(ino)
        self._adjust_links(dir_ino, -1)

    def link(self, dir_ino, name, ino):
        if self.getattr(ino).is_dir:
            raise FsError(errno.EPERM)
        if self.lookup(dir_ino, name) is not None:
            raise FsError(errno.EEXIST)
        self._link_into(dir_ino, name, ino, self.getattr(ino).mode)
        self._adjust_links(ino, 1)

    def read(self, ino, offset, length):
        raw = self._iget(ino)
        size = self.getattr(ino).size
        length = max(0, min(length, size - offset))
        out = bytearray(length)
        bs = self.block_size
        pos = offset
        while pos < offset + length:
            lblk, within = divmod(pos, bs)
            n = min(bs - within, offset + length - pos)
            pblk = self._bmap(raw, lblk, False)
            if pblk:
                out[pos - offset:pos - offset + n] = self.buf.read(pblk * bs + within, n)
            pos += n
        return bytes(out)

    def write(self, ino, offset, data):
        if self.read_only:
            raise FsError(errno.EROFS)
        raw = self._iget(ino)
        goal = (ino - 1) // self.geo.inodes_per_group
        bs = self.block_size
        pos = 0
        while pos < len(data):
            lblk, within = divmod(offset + pos, bs)
            n = min(bs - within, len(data) - pos)
            pblk = self._bmap(raw, lblk, True, goal, data=True)
            self.buf.write(pblk * bs + within, bytes(data[pos:pos + n]), meta=False)
            pos += n
        size = struct.unpack_from("<I", raw, 4)[0] | (struct.unpack_from("<I", raw, 108)[0] << 32)
        new_size = max(size, offset + len(data))
        struct.pack_into("<I", raw, 4, new_size & 0xFFFFFFFF)
        struct.pack_into("<I", raw, 108, new_size >> 32)
        self._touch(raw)
        self._iput(ino, raw)

    def truncate(self, ino, size):
        raw = self._iget(ino)
        if size == 0:
            for block in self._all_blocks(raw):
                self._free_block(block)
            raw[40:100] = bytes(60)
            struct.pack_into("<I", raw, 28, 0)
        struct.pack_into("<I", raw, 4, size & 0xFFFFFFFF)
        struct.pack_into("<I", raw, 108, size >> 32)
        self._touch(raw)
        self._iput(ino, raw)

    def setattr(self, ino, mode=None, uid=None, gid=None, mtime=None):
        raw = self._iget(ino)
        if mode is not None:
            old = struct.unpack_from("<H", raw, 0)[0]
            struct.pack_into("<H", raw, 0, (old & ~0o7777) | (mode & 0o7777))
        if uid is not None:
            struct.pack_into("<H", raw, 2, uid & 0xFFFF)
        if gid is not None:
            struct.pack_into("<H", raw, 24, gid & 0xFFFF)
        if mtime is not None:
            struct.pack_into("<I", raw, 16, int(mtime))
        self._iput(ino, raw)

    # -- mount-time bookkeeping --------------------------------------------------------
    @property
    def has_journal(self) -> bool:
        return bool(struct.unpack_from("<I", self.sb, 92)[0] & COMPAT_HAS_JOURNAL)

    def on_mount(self, mountpoint: str) -> None:
        count = struct.unpack_from("<H", self.sb, 52)[0]
        struct.pack_into("<H", self.sb, 52, count + 1)
        struct.pack_into("<I", self.sb, 44, int(self.clock.now))
        path = mountpoint.encode()[:63]
        self.sb[136:200] = path + bytes(64 - len(path))
        if self.has_journal:
            incompat = struct.unpack_from("<I", self.sb, 96)[0]
            struct.pack_into("<I", self.sb, 96, incompat | INCOMPAT_RECOVER)
        if not self.read_only:
            self.flush_super()

    def sync(self) -> None:
        """sync(2)/syncfs: commit the running transaction (ext3) or write every dirty block home (ext2)."""
        if self.read_only:
            return
        if self.has_journal:
            self._journal().commit(self.buf, self.clock.ns)
        elif self.buf.dirty:
            self.buf.write_home(self.buf.meta.keys() | self.buf.data)
            self.buf.meta.clear()
            self.buf.data.clear()
        self.buf.dirty_since = None

    def tick(self) -> None:
        """The kernel's own timers: jbd2 commits a transaction 5 s after it started; the flusher writes dirty
        blocks of a journal-less filesystem back after 30 s."""
        if self.buf.dirty_since is not None and not self.read_only:
            if self.clock.now - self.buf.dirty_since >= (5 if self.has_journal else 30):
                self.sync()

    def _journal(self) -> Journal:
        if self.journal is None:
            raw = self._iget(JOURNAL_INO)
            size = struct.unpack_from("<I", raw, 4)[0] // self.block_size
            self.journal = Journal(self.devblk, self.block_size, lambda n: self._bmap(raw, n, False), size)
        return self.journal

    def on_umount(self) -> None:
        if not self.read_only:
            if self.has_journal:
                self._journal().destroy(self.buf, self.clock.ns)
            self.sync()
        self._prealloc = [0, 0]   # the in-memory preallocation is dropped, as on the kernel's umount
        if self.has_journal:
            incompat = struct.unpack_from("<I", self.sb, 96)[0]
            struct.pack_into("<I", self.sb, 96, incompat & ~INCOMPAT_RECOVER)
        if not self.read_only:
            self.flush_super()
