"""Where ext4 (mounting an ext3) puts a new inode: the Orlov allocator, and the dx hash it seeds with.

A directory made in the root goes to the first group, counting from hash(name) mod groups, that has the fewest
directories among those with at least average free inodes and free blocks; so where `/root` lands depends on
the filesystem's hash seed (group 2 on the reference node's run, group 1 for the seed our tests fix). Deeper
directories stay in their parent's group while it has room; other inodes go to their parent's group.
"""
from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF
_DEFAULT_SEED = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
_K2, _K3 = 0o13240474631, 0o15666365641


def _rol(x: int, s: int) -> int:
    x &= _MASK
    return ((x << s) | (x >> (32 - s))) & _MASK


def _half_md4(buf: list[int], words: list[int]) -> None:
    a, b, c, d = buf

    def f(x, y, z):
        return z ^ (x & (y ^ z))

    def g(x, y, z):
        return ((x & y) + ((x ^ y) & z)) & _MASK

    def h(x, y, z):
        return x ^ y ^ z

    for fn, k, order, shifts in ((f, 0, (0, 1, 2, 3, 4, 5, 6, 7), (3, 7, 11, 19)),
                                 (g, _K2, (1, 3, 5, 7, 0, 2, 4, 6), (3, 5, 9, 13)),
                                 (h, _K3, (3, 7, 2, 6, 1, 5, 0, 4), (3, 9, 11, 15))):
        for i, w in enumerate(order):
            s = shifts[i % 4]
            x = (words[w] + k) & _MASK
            if i % 4 == 0:
                a = _rol(a + fn(b, c, d) + x, s)
            elif i % 4 == 1:
                d = _rol(d + fn(a, b, c) + x, s)
            elif i % 4 == 2:
                c = _rol(c + fn(d, a, b) + x, s)
            else:
                b = _rol(b + fn(c, d, a) + x, s)
    buf[0] = (buf[0] + a) & _MASK
    buf[1] = (buf[1] + b) & _MASK
    buf[2] = (buf[2] + c) & _MASK
    buf[3] = (buf[3] + d) & _MASK


def _words_signed(msg: bytes, count: int) -> list[int]:
    """str2hashbuf_signed(): bytes as signed chars, padded with the length."""
    length = len(msg)
    pad = (length | (length << 8)) & _MASK
    pad |= (pad << 16) & _MASK
    out: list[int] = []
    val = pad
    for i, byte in enumerate(msg[:count * 4]):
        val = ((byte - 256 if byte > 127 else byte) + (val << 8)) & _MASK
        if i % 4 == 3:
            out.append(val)
            val = pad
    if len(out) < count:
        out.append(val)
    while len(out) < count:
        out.append(pad)
    return out


def dx_hash_half_md4(name: bytes, seed: bytes) -> int:
    """ext4fs_dirhash() with DX_HASH_HALF_MD4 (the major hash, low bit cleared)."""
    words = struct.unpack("<4I", seed)
    buf = list(words) if any(words) else list(_DEFAULT_SEED)
    pos = 0
    while pos < len(name):   # each round pads with the length still to go, as the kernel does
        _half_md4(buf, _words_signed(name[pos:], 8))
        pos += 32
    value = buf[1] & ~1
    return (0x7FFFFFFF - 1) << 1 if value == 0x7FFFFFFF << 1 else value


def orlov_group(stats: list[tuple[int, int, int]], hash_value: int) -> int | None:
    """A top-level directory's group. `stats`: (free inodes, free blocks, directories) per group."""
    groups = len(stats)
    ave_inodes = sum(s[0] for s in stats) // groups
    ave_blocks = sum(s[1] for s in stats) // groups
    best, best_dirs = None, None
    start = hash_value % groups
    for i in range(groups):
        g = (start + i) % groups
        free_inodes, free_blocks, dirs = stats[g]
        if not free_inodes or (best_dirs is not None and dirs >= best_dirs):
            continue
        if free_inodes < ave_inodes or free_blocks < ave_blocks:
            continue
        best, best_dirs = g, dirs
    return best


def subdir_group(stats: list[tuple[int, int, int]], parent_group: int, inodes_per_group: int,
                 blocks_per_group: int) -> int | None:
    """A deeper directory's group: its parent's, unless that is short of room (then the next that has it)."""
    groups = len(stats)
    max_dirs = sum(s[2] for s in stats) // groups + inodes_per_group // 16
    min_inodes = max(1, sum(s[0] for s in stats) // groups - inodes_per_group // 4)
    min_blocks = sum(s[1] for s in stats) // groups - blocks_per_group // 4
    for i in range(groups):
        g = (parent_group + i) % groups
        free_inodes, free_blocks, dirs = stats[g]
        if dirs < max_dirs and free_inodes >= min_inodes and free_blocks >= min_blocks:
            return g
    return None
