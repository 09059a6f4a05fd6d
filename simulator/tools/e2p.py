"""e2fsprogs 1.47's superblock listing (libe2p's list_super2), as `tune2fs -l` and `dumpe2fs -h` print it.

Every line follows the library's rule for when it appears; tests/test_tune2fs_list.py compares the output
with the real tune2fs on filesystems the simulator made."""
from __future__ import annotations

import struct
import time
import uuid as uuidlib

# (superblock word, bit, name) in the order e2p_feature2string walks them: compat, incompat, ro_compat
_FEATURES = {
    0: ["dir_prealloc", "imagic_inodes", "has_journal", "ext_attr", "resize_inode", "dir_index",
        "lazy_bg", "exclude_inode", "exclude_bitmap", "sparse_super2", "fast_commit", "stable_inodes",
        "orphan_file"],
    1: ["compression", "filetype", "needs_recovery", "journal_dev", "meta_bg", None, "extent", "64bit",
        "mmp", "flex_bg", "ea_inode", None, "dirdata", "metadata_csum_seed", "large_dir", "inline_data",
        "encrypt", "casefold"],
    2: ["sparse_super", "large_file", None, "huge_file", "uninit_bg", "dir_nlink", "extra_isize",
        "snapshot_bitmap", "quota", "bigalloc", "metadata_csum", "replica", "read-only", "project",
        "shared_blocks", "verity", "orphan_present"],
}
_MOUNT_OPTS = ["debug", "bsdgroups", "user_xattr", "acl", "uid16", None, None, "journal_ioprio", "nobarrier",
               "block_validity", "discard", "nodelalloc"]
_JOURNAL_MODES = {0x20: "journal_data", 0x40: "journal_data_ordered", 0x60: "journal_data_writeback"}
_ERRORS = {1: "Continue", 2: "Remount read-only", 3: "Panic"}
_OS = ["Linux", "Hurd", "Masix", "FreeBSD", "Lites"]
_HASHES = ["legacy", "half_md4", "tea", "legacy_unsigned", "half_md4_unsigned", "tea_unsigned", "siphash"]
_MONTH, _WEEK, _DAY = 86400 * 30, 86400 * 7, 86400


def _ctime(seconds: int) -> str:
    """ctime(3) in UTC, the nodes' zone: the day of the month padded with a space."""
    t = time.gmtime(seconds)
    return f"{time.strftime('%a %b', t)} {t.tm_mday:2d} {time.strftime('%H:%M:%S %Y', t)}"


def interval_string(secs: int) -> str:
    if secs == 0:
        return "<none>"
    parts = []
    for size, unit in ((_MONTH, "month"), (_WEEK, "week"), (_DAY, "day")):
        if secs >= size:
            num, secs = divmod(secs, size)
            parts.append(f"{num} {unit}{'s' if num > 1 else ''}")
    if secs > 0:
        hours, rest = divmod(secs, 3600)
        parts.append(f"{hours}:{rest // 60:02d}:{rest % 60:02d}")
    return ", ".join(parts)


def _uuid(raw: bytes) -> str:
    return "<none>" if not any(raw) else str(uuidlib.UUID(bytes=bytes(raw)))


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _features(sb: bytes) -> str:
    words = struct.unpack_from("<III", sb, 92)   # compat, incompat, ro_compat
    names = []
    for kind, word in enumerate(words):
        table = _FEATURES[kind]
        for bit in range(32):
            if word & (1 << bit):
                name = table[bit] if bit < len(table) else None
                names.append(name or f"FEATURE_{'CIR'[kind]}{bit}")
    return " ".join(names) or "(none)"


def _mount_options(mask: int) -> str:
    out = []
    if mask & 0x60:
        out.append(_JOURNAL_MODES[mask & 0x60])
    for bit in range(32):
        m = 1 << bit
        if m & 0x60 or not mask & m:
            continue
        out.append(_MOUNT_OPTS[bit] if bit < len(_MOUNT_OPTS) and _MOUNT_OPTS[bit] else f"MNTOPT_{bit}")
    return " ".join(out) or "(none)"


def _kbytes(k: int) -> str:
    for limit, shift, unit in ((2**13, 0, "kB"), (2**23, 10, "MB"), (2**33, 20, "GB"), (2**43, 30, "TB")):
        if k < limit:
            return f"{(k + (1 << shift >> 1)) >> shift if shift else k} {unit}"
    return f"{(k + 2**39) >> 40} PB"


def row(label: str, value) -> str:
    """One line of the listing: the label and its colon padded to 26 columns."""
    return f"{label + ':':<26}{value}\n"


def list_super(sb: bytes, users: dict[int, str], groups: dict[int, str]) -> str:
    (inodes, blocks, r_blocks, free_blocks, free_inodes, first_data_block, log_block, log_cluster,
     blocks_per_group, clusters_per_group, inodes_per_group, mtime, wtime) = struct.unpack_from("<13I", sb, 0)
    mnt_count, max_mnt, magic, state, errors, _minor = struct.unpack_from("<HhHHHH", sb, 52)
    lastcheck, checkinterval, creator_os, rev = struct.unpack_from("<IIII", sb, 64)
    res_uid, res_gid = struct.unpack_from("<HH", sb, 80)
    first_ino, inode_size = struct.unpack_from("<IH", sb, 84)
    block_size = 1024 << log_block
    lines = [
        row("Filesystem volume name", _cstr(sb[120:136]) or '<none>'),
        row("Last mounted on", _cstr(sb[136:200]) or '<not available>'),
        row("Filesystem UUID", _uuid(sb[104:120])),
        row("Filesystem magic number", f"0x{magic:04X}"),
        row("Filesystem revision #", f"{rev} {({0: '(original)', 1: '(dynamic)'}).get(rev, '(unknown)')}"),
        row("Filesystem features", _features(sb)),
    ]
    flags = struct.unpack_from("<I", sb, 0x160)[0]
    if flags:
        names = [n for bit, n in ((1, "signed_directory_hash "), (2, "unsigned_directory_hash "),
                                  (4, "test_filesystem ")) if flags & bit]
        lines.append(row("Filesystem flags", "".join(names) or "(none)"))
    lines.append(row("Default mount options", _mount_options(struct.unpack_from('<I', sb, 0x100)[0])))
    if sb[0x200]:
        lines.append(row("Mount options", _cstr(sb[0x200:0x240])))
    state_text = ("clean" if state & 1 else "not clean") + (" with errors" if state & 2 else "")
    lines.append(row("Filesystem state", state_text))
    lines += [
        row("Errors behavior", _ERRORS.get(errors, 'Unknown (continue)')),
        row("Filesystem OS type", _OS[creator_os] if creator_os < len(_OS) else '(unknown os)'),
        row("Inode count", inodes),
        row("Block count", blocks),
        row("Reserved block count", r_blocks),
    ]
    overhead = struct.unpack_from("<I", sb, 0x248)[0]
    if overhead:
        lines.append(row("Overhead clusters", overhead))
    lines += [
        row("Free blocks", free_blocks),
        row("Free inodes", free_inodes),
        row("First block", first_data_block),
        row("Block size", block_size),
        row("Fragment size", 1024 << log_cluster),
    ]
    reserved_gdt = struct.unpack_from("<H", sb, 0xCE)[0]
    if reserved_gdt:
        lines.append(row("Reserved GDT blocks", reserved_gdt))
    lines += [
        row("Blocks per group", blocks_per_group),
        row("Fragments per group", clusters_per_group),
        row("Inodes per group", inodes_per_group),
        row("Inode blocks per group", (inodes_per_group * inode_size + block_size - 1) // block_size),
    ]
    mkfs_time = struct.unpack_from("<I", sb, 0x108)[0]
    if mkfs_time:
        lines.append(row("Filesystem created", _ctime(mkfs_time)))
    lines += [
        row("Last mount time", _ctime(mtime) if mtime else "n/a"),
        row("Last write time", _ctime(wtime)),
        row("Mount count", mnt_count),
        row("Maximum mount count", max_mnt),
        row("Last checked", _ctime(lastcheck)),
        row("Check interval", f"{checkinterval} ({interval_string(checkinterval)})"),
    ]
    if checkinterval:
        lines.append(row("Next check after", _ctime(lastcheck + checkinterval)))
    kbytes = struct.unpack_from("<Q", sb, 0x178)[0]
    if kbytes:
        lines.append(row("Lifetime writes", _kbytes(kbytes)))
    lines.append(row("Reserved blocks uid", f"{res_uid} (user {users.get(res_uid, 'unknown')})"))
    lines.append(row("Reserved blocks gid", f"{res_gid} (group {groups.get(res_gid, 'unknown')})"))
    if rev >= 1:
        # libe2p's own quirk: a tab after this one label
        lines += [row("First inode", first_ino), f"Inode size:\t          {inode_size}\n"]
        min_extra, want_extra = struct.unpack_from("<HH", sb, 0x15C)
        if min_extra:
            lines.append(row("Required extra isize", min_extra))
        if want_extra:
            lines.append(row("Desired extra isize", want_extra))
    if any(sb[0xD0:0xE0]):
        lines.append(row("Journal UUID", _uuid(sb[0xD0:0xE0])))
    journal_inum, journal_dev, last_orphan = struct.unpack_from("<III", sb, 0xE0)
    if journal_inum:
        lines.append(row("Journal inode", journal_inum))
    if journal_dev:
        lines.append(f"Journal device:\t          0x{journal_dev:04x}\n")
    if last_orphan:
        lines.append(row("First orphan inode", last_orphan))
    hash_version = sb[0xFC]
    if struct.unpack_from("<I", sb, 92)[0] & 0x20 or hash_version:
        name = _HASHES[hash_version] if hash_version < len(_HASHES) else "unknown"
        lines.append(row("Default directory hash", name))
    if any(sb[0xEC:0xFC]):
        lines.append(row("Directory Hash Seed", _uuid(sb[0xEC:0xFC])))
    if sb[0xFD]:
        lines.append(row("Journal backup", "inode blocks" if sb[0xFD] == 1 else f"type {sb[0xFD]}"))
    return "".join(lines)
