"""Where a mounted ext2/3 puts new inodes and blocks (bitmaps, group descriptors, the kernel's policies)."""
from __future__ import annotations

import errno
import stat as st
import struct

from .base import FsError
from .orlov import dx_hash_half_md4, orlov_group, subdir_group

ROOT_INO = 2
MEASURED_COLOUR = 2   # pid % 16 of the processes that wrote files in every run measured on our node


def first_clear_bit(bitmap: bytearray, start: int, stop: int) -> int:
    """The first 0 bit in [start, stop) of a little-endian bitmap, or -1; whole 0xFF bytes are skipped at once."""
    i = start
    while i < stop:
        if not i & 7:
            run = bitmap[i >> 3:(stop + 7) >> 3]
            full = len(run) - len(run.lstrip(b"\xff"))
            i += 8 * full
            if i >= stop:
                return -1
        if not bitmap[i >> 3] & (1 << (i & 7)):
            return i
        i += 1
    return -1


class ExtAllocator:
    """Mixed into ExtFS: needs its geometry, `_gd`/`_set_gd`, `_rblock`/`_wblock`, `_sb_add` and `_prealloc`."""

    def _alloc_bit(self, bitmap_field: int, count_field: int, per_group: int, goal_group: int,
                   sb_offset: int, limit, skip: tuple[int, int] = (0, 0)) -> int:
        for step in range(self.geo.groups):
            g = (goal_group + step) % self.geo.groups
            gd = self._gd(g)
            if gd[count_field] == 0:
                continue
            bmp = self._rblock(gd[bitmap_field])
            end, base = limit(g), g * per_group
            lo, hi = max(0, skip[0] - base), min(end, skip[1] - base)
            spans = ((0, lo), (hi, end)) if lo < hi else ((0, end),)
            for start, stop in spans:
                i = first_clear_bit(bmp, start, stop)
                if i >= 0:
                    self._use_bit(g, gd, bmp, i, bitmap_field, count_field, sb_offset)
                    return base + i
        raise FsError(errno.ENOSPC)

    def _use_bit(self, g: int, gd: list[int], bmp: bytearray, i: int, bitmap_field: int, count_field: int,
                 sb_offset: int) -> None:
        bmp[i >> 3] |= 1 << (i & 7)
        self._wblock(gd[bitmap_field], bmp)
        gd[count_field] -= 1
        self._set_gd(g, gd)
        self._sb_add(sb_offset, -1)

    def _free_bit(self, bitmap_field: int, count_field: int, per_group: int, index: int, sb_offset: int) -> None:
        g, i = divmod(index, per_group)
        gd = self._gd(g)
        bmp = self._rblock(gd[bitmap_field])
        bmp[i >> 3] &= ~(1 << (i & 7)) & 0xFF
        self._wblock(gd[bitmap_field], bmp)
        gd[count_field] += 1
        self._set_gd(g, gd)
        self._sb_add(sb_offset, 1)

    def _alloc_block(self, goal_group: int = 0) -> int:
        """A metadata block (directory, indirect): the first free one in the group, outside the run reserved
        for small files."""
        fdb = self.geo.first_data_block
        n = self._alloc_bit(0, 3, self.geo.blocks_per_group, goal_group, 12, self.geo.group_blocks,
                            (self._prealloc[0] - fdb, self._prealloc[1] - fdb))
        block = n + fdb
        self._wblock(block, bytes(self.block_size))
        return block

    def _free_bit_of(self, block: int):
        """(group, its descriptor, its block bitmap, the block's bit) if the block is free, else None."""
        g, i = divmod(block - self.geo.first_data_block, self.geo.blocks_per_group)
        if not 0 <= g < self.geo.groups or i >= self.geo.group_blocks(g):
            return None
        gd = self._gd(g)
        bmp = self._rblock(gd[0])
        return None if bmp[i >> 3] & (1 << (i & 7)) else (g, gd, bmp, i)

    def _free_run_end(self, block: int, limit: int) -> int:
        """The first block from `block` on (at most `limit`) that is used or outside the groups' blocks."""
        while block < limit:
            found = self._free_bit_of(block)
            if found is None:
                return block
            g, _gd, bmp, i = found
            stop = min(limit - block + i, self.geo.group_blocks(g))
            while i < stop and not bmp[i >> 3] & (1 << (i & 7)):
                i += 1   # a free run is at most 512 blocks: a bit at a time is cheap enough
            block = g * self.geo.blocks_per_group + self.geo.first_data_block + i
            if i < stop:
                return block
        return limit

    def _take_block(self, block: int) -> bool:
        """Mark one given block used, if it is free."""
        found = self._free_bit_of(block)
        if found is not None:
            self._use_bit(*found, 0, 3, 12)
        return found is not None

    def _alloc_data(self, goal_group: int) -> int:
        """A small file's data block, as mballoc's per-CPU locality group gives it: from a 512-block run
        reserved at the first allocation, which starts at the inode group's start plus a "colour" of the
        allocating process's id (pid % 16 sixteenths of a group), or at the group's first free block when
        that is taken. The simulator has no process ids: it uses the colour every measured run on our node
        showed (2, the key file 1024 blocks into its 8192-block group), so both engine paths, which run
        different numbers of commands, still write the same image."""
        while self._prealloc[0] < self._prealloc[1]:
            block = self._prealloc[0]
            self._prealloc[0] += 1
            if self._take_block(block):
                self._wblock(block, bytes(self.block_size), meta=False)
                return block
        start = self.geo.group_start(goal_group)
        goal = start + MEASURED_COLOUR * (self.geo.blocks_per_group // 16)
        if not self._take_block(goal):
            self._prealloc = [0, 0]
            goal = self._alloc_bit(0, 3, self.geo.blocks_per_group, goal_group, 12,
                                   self.geo.group_blocks) + self.geo.first_data_block
        end = self._free_run_end(goal + 1, goal + 512)
        self._prealloc = [goal + 1, end]
        self._wblock(goal, bytes(self.block_size), meta=False)
        return goal

    def _free_block(self, block: int) -> None:
        self._free_bit(0, 3, self.geo.blocks_per_group, block - self.geo.first_data_block, 12)

    def _alloc_inode(self, mode: int, goal_group: int) -> int:
        ino = self._alloc_bit(1, 4, self.geo.inodes_per_group, goal_group, 16,
                              lambda g: self.geo.inodes_per_group) + 1
        if st.S_ISDIR(mode):
            g = (ino - 1) // self.geo.inodes_per_group
            gd = self._gd(g)
            gd[5] += 1
            self._set_gd(g, gd)
        return ino

    def _inode_group(self, dir_ino: int, name: str, mode: int) -> int:
        parent = (dir_ino - 1) // self.geo.inodes_per_group
        if not st.S_ISDIR(mode):
            return parent
        stats = [(gd[4], gd[3], gd[5]) for gd in map(self._gd, range(self.geo.groups))]
        if dir_ino == ROOT_INO:
            group = orlov_group(stats, dx_hash_half_md4(name.encode(errors="surrogateescape"),
                                                        bytes(self.sb[0xEC:0xFC])))
        else:
            group = subdir_group(stats, parent, self.geo.inodes_per_group, self.geo.blocks_per_group)
        return parent if group is None else group

    # -- block maps ---------------------------------------------------------------------
    def _bmap(self, raw: bytearray, lblk: int, alloc: bool, goal: int = 0, data: bool = False) -> int:
        per = self.block_size // 4
        if lblk < 12:
            slot = struct.unpack_from("<I", raw, 40 + 4 * lblk)[0]
            if slot == 0 and alloc:
                slot = self._alloc_data(goal) if data else self._alloc_block(goal)
                struct.pack_into("<I", raw, 40 + 4 * lblk, slot)
                self._add_iblocks(raw, 1)
            return slot
        lblk -= 12
        for level, index_slot in ((1, 12), (2, 13), (3, 14)):
            span = per ** level
            if lblk < span:
                top = struct.unpack_from("<I", raw, 40 + 4 * index_slot)[0]
                if top == 0:
                    if not alloc:
                        return 0
                    top = self._alloc_block(goal)
                    struct.pack_into("<I", raw, 40 + 4 * index_slot, top)
                    self._add_iblocks(raw, 1)
                return self._walk_indirect(raw, top, lblk, level, alloc, goal, data)
            lblk -= span
        raise FsError(errno.EFBIG)

    def _walk_indirect(self, raw: bytearray, block: int, lblk: int, level: int, alloc: bool, goal: int,
                       data: bool = False) -> int:
        per = self.block_size // 4
        while level > 0:
            span = per ** (level - 1)
            index, lblk = divmod(lblk, span)
            table = self._rblock(block)
            child = struct.unpack_from("<I", table, 4 * index)[0]
            if child == 0:
                if not alloc:
                    return 0
                child = self._alloc_data(goal) if data and level == 1 else self._alloc_block(goal)
                struct.pack_into("<I", table, 4 * index, child)
                self._wblock(block, table)
                self._add_iblocks(raw, 1)
            block = child
            level -= 1
        return block

    def _add_iblocks(self, raw: bytearray, blocks: int) -> None:
        value, = struct.unpack_from("<I", raw, 28)
        struct.pack_into("<I", raw, 28, value + blocks * (self.block_size // 512))

    def _all_blocks(self, raw: bytes) -> list[int]:
        """Every block an inode owns, data and indirect."""
        out = []
        slots = struct.unpack_from("<15I", raw, 40)
        out.extend(b for b in slots[:12] if b)

        def walk(block: int, level: int) -> None:
            out.append(block)
            if level == 0:
                return
            for child in struct.unpack(f"<{self.block_size // 4}I", self._rblock(block)):
                if child:
                    walk(child, level - 1)
        for slot, level in ((12, 1), (13, 2), (14, 3)):
            if slots[slot]:
                walk(slots[slot], level)
        return out

    def data_ranges(self, ino: int, offset: int, length: int) -> list[tuple[int, int]]:
        """SEEK_DATA's view: the byte ranges backed by blocks (holes are where the block map says 0)."""
        raw = self._iget(ino)
        if not st.S_ISREG(struct.unpack_from("<H", raw, 0)[0]):
            return super().data_ranges(ino, offset, length)
        bs = self.block_size
        ranges: list[tuple[int, int]] = []
        for lblk in range(offset // bs, -(-(offset + length) // bs)):
            if not self._bmap(raw, lblk, False):
                continue
            start, end = max(lblk * bs, offset), min((lblk + 1) * bs, offset + length)
            if ranges and ranges[-1][0] + ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], end - ranges[-1][0])
            else:
                ranges.append((start, end - start))
        return ranges
