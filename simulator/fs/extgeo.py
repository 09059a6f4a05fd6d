"""ext2/3/4 on-disk constants and geometry: how mke2fs sizes groups, inode tables, reserved GDT blocks and the
journal for a device (shared by mke2fs's layout in mkext.py and the mounted view in ext2.py)."""
from __future__ import annotations

import functools
import stat as st
from dataclasses import dataclass

MAGIC = 0xEF53
COMPAT_HAS_JOURNAL = 0x4
COMPAT_EXT_ATTR = 0x8
INCOMPAT_FILETYPE = 0x2
INCOMPAT_RECOVER = 0x4
RO_COMPAT_SPARSE_SUPER = 0x1
RO_COMPAT_LARGE_FILE = 0x2
ROOT_INO = 2
JOURNAL_INO = 8
LOST_FOUND_INO = 11
FIRST_INO = 11
_FT = {st.S_IFREG: 1, st.S_IFDIR: 2, st.S_IFCHR: 3, st.S_IFBLK: 4, st.S_IFIFO: 5, st.S_IFSOCK: 6, st.S_IFLNK: 7}


def journal_blocks_for(blocks: int) -> int:
    """ext2fs_default_journal_size()."""
    for limit, size in ((2048, -1), (32768, 1024), (256 * 1024, 4096), (512 * 1024, 8192),
                        (4096 * 1024, 16384), (8192 * 1024, 32768), (16384 * 1024, 65536),
                        (32768 * 1024, 131072)):
        if blocks < limit:
            return size
    return 262144


@functools.lru_cache(maxsize=4096)
def _has_super(group: int) -> bool:
    if group <= 1:
        return True
    for base in (3, 5, 7):
        n = base
        while n < group:
            n *= base
        if n == group:
            return True
    return False


@dataclass
class Geometry:
    block_size: int
    blocks: int
    first_data_block: int
    blocks_per_group: int
    groups: int
    inodes_per_group: int
    inode_size: int
    inode_blocks_per_group: int
    gdt_blocks: int
    reserved_gdt: int = 0      # resize_inode's reserved GDT blocks after each descriptor table copy

    @property
    def inodes(self) -> int:
        return self.inodes_per_group * self.groups

    def group_start(self, g: int) -> int:
        return self.first_data_block + g * self.blocks_per_group

    def group_blocks(self, g: int) -> int:
        return min(self.blocks_per_group, self.blocks - self.group_start(g))

    def meta(self, g: int) -> tuple[int, int, int, int]:
        """(overhead start, block bitmap, inode bitmap, inode table) of group g."""
        start = self.group_start(g)
        pos = start + (1 + self.gdt_blocks + self.reserved_gdt if _has_super(g) else 0)
        return start, pos, pos + 1, pos + 2

    def backups(self) -> list[int]:
        return [self.group_start(g) for g in range(1, self.groups) if _has_super(g)]


def reserved_gdt_blocks(blocks: int, fdb: int, bpg: int, block_size: int, gdt: int) -> int:
    """calc_reserved_gdt_blocks(): descriptor blocks for 1024 times the size (at most 2^32 blocks), at most one
    indirect block's worth."""
    max_blocks = blocks * 1024 if blocks < 0xFFFFFFFF // 1024 else 0xFFFFFFFF
    rsv_groups = -(-(max_blocks - fdb) // bpg)
    return min(-(-rsv_groups // (block_size // 32)) - gdt, block_size // 4)


def plan_geometry(size_bytes: int, block_size: int | None, blocks: int | None,
                  inode_ratio: int | None = None, inode_size: int | None = None,
                  small_inode_size: int = 128, resize_inode: bool = False, inode_count: int | None = None) -> Geometry:
    """What mke2fs would choose, following mke2fs.conf's size types (floppy/small/default): `small_inode_size`
    is the inode size of the floppy and small types (128 in e2fsprogs 1.41's conf, 256 in 1.47's), and
    `resize_inode` reserves GDT blocks for growing to 1024 times the size (ext2fs_initialize's retry loop)."""
    if block_size is None:
        block_size = 1024 if size_bytes < 512 * 1024 * 1024 else 4096
    if blocks is None:
        blocks = size_bytes // block_size
    fs_bytes = blocks * block_size
    if fs_bytes < 3 * 1024 * 1024:
        ratio, isize = 8192, small_inode_size
    elif fs_bytes < 512 * 1024 * 1024:
        ratio, isize = 4096, small_inode_size
    else:
        ratio, isize = 16384, 256
    ratio = inode_ratio or ratio
    isize = inode_size or isize
    fdb = 1 if block_size == 1024 else 0
    bpg = block_size * 8
    while True:
        groups = -(-(blocks - fdb) // bpg)
        total_inodes = max(inode_count or fs_bytes // ratio, FIRST_INO + 1)
        ipg = -(-total_inodes // groups)
        ipg = min(ipg, block_size * 8)
        itb = -(-(ipg * isize) // block_size)
        ipg = (itb * block_size // isize) & ~7
        itb = -(-(ipg * isize) // block_size)
        gdt = -(-(groups * 32) // block_size)
        rgdt = reserved_gdt_blocks(blocks, fdb, bpg, block_size, gdt) if resize_inode else 0
        overhead = 3 + itb + gdt + rgdt
        rem = (blocks - fdb) % bpg
        if groups > 1 and rem and rem < overhead + 50:
            blocks -= rem
            continue
        return Geometry(block_size, blocks, fdb, bpg, groups, ipg, isize, itb, gdt, rgdt)
