"""Laying out a new ext2/3/4 filesystem on a device, as mke2fs does."""
from __future__ import annotations

import functools
import struct
import uuid as uuidlib

from .extgeo import (
    COMPAT_EXT_ATTR,
    COMPAT_HAS_JOURNAL,
    FIRST_INO,
    INCOMPAT_FILETYPE,
    JOURNAL_INO,
    LOST_FOUND_INO,
    MAGIC,
    RO_COMPAT_LARGE_FILE,
    RO_COMPAT_SPARSE_SUPER,
    ROOT_INO,
    Geometry,
    _has_super,
    journal_blocks_for,
)
from .jbd2 import JBD2_MAGIC

RESIZE_INO = 7
COMPAT_RESIZE_INODE = 0x10
COMPAT_DIR_INDEX = 0x20
DX_HASH_HALF_MD4 = 1
JNL_BACKUP_BLOCKS = 1
DEFM_XATTR_USER = 0x4
DEFM_ACL = 0x8
EXT2_FLAGS_SIGNED_HASH = 0x1
BG_INODE_ZEROED = 0x4


def _le32s(values) -> bytes:
    """Little-endian 32-bit words: a journal's block pointers, a thousand to a block."""
    if isinstance(values, range) and values.step == 1:
        return _le32_run(values.start, len(values))
    return struct.pack(f"<{len(values)}I", *values)


def _le32_run(start: int, count: int) -> bytes:
    """start, start+1, ... as little-endian words, by big-integer arithmetic: the words 0..count-1 plus start
    times the words 1, 1, ..., which no word overflows (packing word by word costs more than mke2fs's rest)."""
    if start + count > 1 << 32:
        return struct.pack(f"<{count}I", *range(start, start + count))
    ramp, ones = _ramp(count)
    return (ramp + start * ones).to_bytes(4 * count, "little")


@functools.lru_cache(maxsize=8)
def _ramp(count: int) -> tuple[int, int]:
    return (int.from_bytes(struct.pack(f"<{count}I", *range(count)), "little"),
            int.from_bytes(b"\x01\0\0\0" * count, "little"))


def _set_bits(bitmap: bytearray, lo: int, hi: int) -> None:
    """Set bits lo..hi-1: whole bytes at once, masks for the ragged ends."""
    if hi <= lo:
        return
    first, last = lo >> 3, (hi - 1) >> 3
    lo_mask = (0xFF << (lo & 7)) & 0xFF
    hi_mask = 0xFF >> (7 - ((hi - 1) & 7))
    if first == last:
        bitmap[first] |= lo_mask & hi_mask
        return
    bitmap[first] |= lo_mask
    if last > first + 1:
        bitmap[first + 1:last] = b"\xff" * (last - first - 1)
    bitmap[last] |= hi_mask


def _inode(mode: int, size: int, links: int, now: int, blocks_512: int, block_slots: list[int]) -> bytearray:
    raw = bytearray(128)
    struct.pack_into("<HHIIIIIHHI", raw, 0, mode, 0, size & 0xFFFFFFFF, now, now, now, 0, 0, links, blocks_512)
    for i, b in enumerate(block_slots[:15]):
        struct.pack_into("<I", raw, 40 + 4 * i, b)
    struct.pack_into("<I", raw, 108, size >> 32)
    return raw


def _write_resize_inode(dev, geo: Geometry, dind: int, now: int, put_inode) -> None:
    """ext2fs_create_resize_inode(): the double-indirect block lists the primary reserved GDT blocks (slot =
    descriptor block index modulo the pointers per block), each of which lists its copies in the backup groups."""
    bs = geo.block_size
    apb = bs // 4
    sb_block = geo.first_data_block
    backups = [g for g in range(1, geo.groups) if _has_super(g)]
    dind_buf = bytearray(bs)
    for i in range(geo.reserved_gdt):
        gdt_blk = sb_block + 1 + geo.gdt_blocks + i
        struct.pack_into("<I", dind_buf, ((geo.gdt_blocks + i) % apb) * 4, gdt_blk)
        copies = [gdt_blk + g * geo.blocks_per_group for g in backups]
        dev.write(gdt_blk * bs, struct.pack(f"<{len(copies)}I", *copies) + bytes(bs - 4 * len(copies)))
    dev.write(dind * bs, bytes(dind_buf))
    size = (apb * apb + apb + 12) * bs
    blocks_512 = (1 + geo.reserved_gdt * (1 + len(backups))) * (bs // 512)
    raw = _inode(0o100600, size, 1, now, blocks_512, [0] * 13 + [dind])
    put_inode(RESIZE_INO, raw)


class _CombinedWrites:
    """mke2fs's writes, each joined to the one before when it starts where that one ended: the device sees
    the same bytes in the same order, in fewer, larger writes."""

    def __init__(self, dev):
        self.dev = dev
        self.at = 0
        self.pending = bytearray()

    def write(self, offset: int, data: bytes) -> None:
        if self.pending and offset == self.at + len(self.pending):
            self.pending += data
            return
        self.flush()
        self.at, self.pending = offset, bytearray(data)

    def flush(self) -> None:
        if self.pending:
            self.dev.write(self.at, bytes(self.pending))
            self.pending = bytearray()


def make_filesystem(dev, geo: Geometry, kind: str, fs_uuid: uuidlib.UUID, now: int, label: str = "",
                    hash_seed: uuidlib.UUID | None = None) -> int:
    combined = _CombinedWrites(dev)
    journal = _make_filesystem(combined, geo, kind, fs_uuid, now, label, hash_seed)
    combined.flush()
    return journal


def _make_filesystem(dev, geo: Geometry, kind: str, fs_uuid: uuidlib.UUID, now: int, label: str = "",
                    hash_seed: uuidlib.UUID | None = None) -> int:
    """Write the filesystem; returns the journal size in blocks (0 without a journal).

    A geometry with reserved GDT blocks is laid out as e2fsprogs 1.47.0 does, byte for byte given the same UUID,
    hash seed and time (tests/test_mkfs_real.py compares with the real mke2fs): resize inode, dir_index with
    the hash seed, acl/user_xattr mount defaults, the journal first-fit after lost+found, its block list
    backed up in the superblock. Without them, the older layout the el6 dialect keeps (unverified)."""
    modern = geo.reserved_gdt > 0
    bs = geo.block_size
    journal = journal_blocks_for(geo.blocks) if kind in ("ext3", "ext4") else 0
    if journal < 0:
        journal = 0
    metas = [geo.meta(g) for g in range(geo.groups)]   # each a few calls: asked for several times a group
    used: dict[int, list[tuple[int, int]]] = {g: [] for g in range(geo.groups)}
    for g in range(geo.groups):
        start, bb, ib, it = metas[g]
        used[g].append((start, it + geo.inode_blocks_per_group))

    def group_of(block: int) -> int:
        return (block - geo.first_data_block) // geo.blocks_per_group

    def take(count: int, goal_group: int):
        """First-fit free blocks from the goal group on: a range when they are one run (a journal's 16,384
        blocks are, and a list of them costs more than the rest of mke2fs)."""
        runs: list[range] = []
        got = 0
        g = goal_group
        while got < count:
            start, _, _, it = metas[g]
            lo = it + geo.inode_blocks_per_group
            taken_hi = max(hi for _, hi in used[g])
            lo = max(lo, taken_hi)
            hi = start + geo.group_blocks(g)
            n = min(count - got, hi - lo)
            if n > 0:
                if runs and runs[-1].stop == lo:
                    runs[-1] = range(runs[-1].start, lo + n)
                else:
                    runs.append(range(lo, lo + n))
                got += n
                used[g].append((lo, lo + n))
            g = (g + 1) % geo.groups
        if len(runs) == 1:
            return runs[0]
        return [b for run in runs for b in run]

    lpf_blocks = min(12, max(2, 16384 // bs))
    root_block = take(1, 0)[0]
    lpf = take(lpf_blocks, 0)
    resize_dind = take(1, 0)[0] if modern else 0

    # Journal: data and indirect blocks in one run near the middle of the filesystem.
    journal_slots: list[int] = []
    indirect_writes: dict[int, bytes] = {}
    if journal:
        per = bs // 4
        n_ind = 0 if journal <= 12 else 1
        rest = max(0, journal - 12 - per)
        n_dind = (1 + -(-rest // per)) if rest > 0 else 0
        if rest > per * per:
            raise ValueError("journal too large for this model")
        # 1.47 maps the (non-extent) journal block by block from the inode's group; 1.41 aimed at the middle
        run = take(journal + n_ind + n_dind, 0 if modern or geo.groups == 1 else geo.groups // 2)
        pos = 0   # the run is consumed in order: 12 direct blocks, the indirect block and its pointers, ...

        def next_blocks(count: int) -> list[int]:
            nonlocal pos
            pos += count
            return run[pos - count:pos]
        slots = [0] * 15
        direct = next_blocks(min(12, journal))
        slots[:len(direct)] = direct
        if n_ind:
            ind = next_blocks(1)[0]
            slots[12] = ind
            ptrs = next_blocks(min(per, journal - 12))
            indirect_writes[ind] = _le32s(ptrs)
        if n_dind:
            dind = next_blocks(1)[0]
            slots[13] = dind
            firsts = []
            remaining = rest
            while remaining > 0:
                leaf = next_blocks(1)[0]
                firsts.append(leaf)
                ptrs = next_blocks(min(per, remaining))
                indirect_writes[leaf] = _le32s(ptrs)
                remaining -= len(ptrs)
            indirect_writes[dind] = _le32s(firsts)
        journal_slots = slots
        journal_first = direct[0]

    # Clear what an old signature might have left (mke2fs zaps bytes 1024-4095).
    dev.write(1024, bytes(3072))

    total_used = sum(hi - lo for g in used for lo, hi in used[g])
    free_blocks = geo.blocks - geo.first_data_block - total_used
    inodes = geo.inodes
    features_compat = (COMPAT_HAS_JOURNAL if journal else 0) | COMPAT_EXT_ATTR
    sb = bytearray(1024)
    struct.pack_into("<7I", sb, 0, inodes, geo.blocks, geo.blocks // 20, free_blocks,
                     inodes - LOST_FOUND_INO, geo.first_data_block, bs.bit_length() - 11)
    struct.pack_into("<6I", sb, 28, bs.bit_length() - 11, geo.blocks_per_group, geo.blocks_per_group,
                     geo.inodes_per_group, 0, now)
    struct.pack_into("<HhHHHH", sb, 52, 0, -1, MAGIC, 1, 1, 0)
    struct.pack_into("<IIII", sb, 64, now, 0, 0, 1)
    struct.pack_into("<HHIHH", sb, 80, 0, 0, FIRST_INO, geo.inode_size, 0)
    struct.pack_into("<III", sb, 92, features_compat, INCOMPAT_FILETYPE,
                     RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE)
    sb[104:120] = fs_uuid.bytes
    name = label.encode()[:16]
    sb[120:120 + len(name)] = name
    if journal:
        struct.pack_into("<I", sb, 224, JOURNAL_INO)
    struct.pack_into("<I", sb, 264, now)
    if geo.inode_size > 128:
        struct.pack_into("<HH", sb, 348, 32, 32)
    if modern:
        struct.pack_into("<I", sb, 92, features_compat | COMPAT_RESIZE_INODE | COMPAT_DIR_INDEX)
        struct.pack_into("<H", sb, 0xCE, geo.reserved_gdt)
        sb[0xEC:0xFC] = (hash_seed or uuidlib.UUID(int=0)).bytes
        sb[0xFC] = DX_HASH_HALF_MD4
        struct.pack_into("<I", sb, 0x100, DEFM_XATTR_USER | DEFM_ACL)
        struct.pack_into("<I", sb, 0x160, EXT2_FLAGS_SIGNED_HASH)
        tables = sum(metas[g][3] + geo.inode_blocks_per_group - metas[g][0] for g in range(geo.groups))
        struct.pack_into("<I", sb, 0x248, tables + journal + geo.first_data_block)   # s_overhead_clusters
        if journal:
            sb[0xFD] = JNL_BACKUP_BLOCKS   # the journal inode's block map, for e2fsck to rebuild it from
            struct.pack_into("<15I", sb, 0x10C, *journal_slots)
            struct.pack_into("<II", sb, 0x148, (journal * bs) >> 32, (journal * bs) & 0xFFFFFFFF)

    ibitmap = bytearray(bs)   # every group's: its inodes free, the padding past them set
    _set_bits(ibitmap, geo.inodes_per_group, bs * 8)
    ibitmap_rest = bytes(ibitmap)
    _set_bits(ibitmap, 0, LOST_FOUND_INO)   # group 0's reserved inodes and lost+found
    ibitmap_first = bytes(ibitmap)
    for g in range(geo.groups):
        start, bb, ib, it = metas[g]
        bitmap = bytearray(bs)
        for lo, hi in used[g]:
            _set_bits(bitmap, lo - start, hi - start)
        _set_bits(bitmap, geo.group_blocks(g), bs * 8)
        dev.write(bb * bs, bytes(bitmap))
        dev.write(ib * bs, ibitmap_first if g == 0 else ibitmap_rest)

    gdt = bytearray(geo.gdt_blocks * bs)
    for g in range(geo.groups):
        start, bb, ib, it = metas[g]
        free = geo.group_blocks(g) - sum(hi - lo for lo, hi in used[g])
        free_inodes = geo.inodes_per_group - (LOST_FOUND_INO if g == 0 else 0)
        dirs = 2 if g == 0 else 0
        struct.pack_into("<IIIHHHH", gdt, g * 32, bb, ib, it, free, free_inodes, dirs,
                         BG_INODE_ZEROED if modern else 0)

    for g in range(geo.groups):
        if not _has_super(g):
            continue
        start = geo.group_start(g)
        copy = bytearray(sb)
        struct.pack_into("<H", copy, 90, g)
        if modern and g:
            struct.pack_into("<H", copy, 58, 0)   # ext2fs_flush writes the backups with the state not valid
        sb_at = 1024 if g == 0 else start * bs
        dev.write(sb_at, bytes(copy))
        dev.write((start + 1) * bs, bytes(gdt))

    def put_inode(ino: int, raw: bytearray) -> None:
        g, index = divmod(ino - 1, geo.inodes_per_group)
        pos = metas[g][3] * bs + index * geo.inode_size
        if geo.inode_size > 128:
            extra = bytearray(geo.inode_size - 128)
            struct.pack_into("<H", extra, 0, 32)
            if modern:
                struct.pack_into("<I", extra, 0x10, now)   # i_crtime
            raw = raw + extra
        dev.write(pos, bytes(raw))

    if modern:
        # the bad blocks inode gets its times and nothing else
        bad = bytearray(128)
        struct.pack_into("<III", bad, 8, now, now, now)
        dev.write(metas[0][3] * bs, bytes(bad))
        _write_resize_inode(dev, geo, resize_dind, now, put_inode)

    spb = bs // 512
    block = bytearray(bs)
    struct.pack_into("<IHBB", block, 0, ROOT_INO, 12, 1, 2)
    block[8:9] = b"."
    struct.pack_into("<IHBB", block, 12, ROOT_INO, 12, 2, 2)
    block[20:22] = b".."
    struct.pack_into("<IHBB", block, 24, LOST_FOUND_INO, bs - 24, 10, 2)
    block[32:42] = b"lost+found"
    dev.write(root_block * bs, bytes(block))
    put_inode(ROOT_INO, _inode(0o40755, bs, 3, now, spb, [root_block]))

    block = bytearray(bs)
    struct.pack_into("<IHBB", block, 0, LOST_FOUND_INO, 12, 1, 2)
    block[8:9] = b"."
    struct.pack_into("<IHBB", block, 12, ROOT_INO, bs - 12, 2, 2)
    block[20:22] = b".."
    dev.write(lpf[0] * bs, bytes(block))
    empty = bytearray(bs)
    struct.pack_into("<IH", empty, 0, 0, bs)
    for b in lpf[1:]:
        dev.write(b * bs, bytes(empty))
    put_inode(LOST_FOUND_INO, _inode(0o40700, bs * len(lpf), 2, now, spb * len(lpf), lpf))

    if journal:
        for b, payload in indirect_writes.items():
            dev.write(b * bs, payload)
        jsb = bytearray(1024)
        struct.pack_into(">IIIIIIII", jsb, 0, JBD2_MAGIC, 4, 0, bs, journal, 1, 1, 0)
        jsb[0x30:0x40] = fs_uuid.bytes
        struct.pack_into(">I", jsb, 0x40, 1)
        dev.write(journal_first * bs, bytes(jsb))
        total = journal + len(indirect_writes)
        put_inode(JOURNAL_INO, _inode(0o100600, journal * bs, 1, now, total * spb, journal_slots))
    return journal
