"""The ext3 journal (jbd2, ordered mode) as a commit writes it: the layout measured on our own node.

A commit writes the running transaction's file data home, then (the first time after a clean mount) the
journal superblock with the log's start, a descriptor block whose tags name the metadata blocks in the order
they joined the transaction, their copies, and a commit block with the commit time. Unmounting commits,
writes every committed block home (checkpoint) and marks the journal empty again. A clean mount writes
nothing to the journal (jbd2 defers the superblock update to the first commit).
"""
from __future__ import annotations

import struct

from .buffers import write_runs

JBD2_MAGIC = 0xC03B3998
DESCRIPTOR, COMMIT = 1, 2
FLAG_ESCAPE, FLAG_SAME_UUID, FLAG_LAST_TAG = 1, 2, 8
TAG_BYTES = 8          # v2 tags without 64bit or checksum features: blocknr, checksum, flags
UUID_BYTES = 16


class Journal:
    def __init__(self, dev, block_size: int, bmap, length: int):
        """`bmap`: the journal inode's physical block of a logical one; `length`: its size in blocks."""
        self.dev = dev
        self.bs = block_size
        self._bmap = bmap
        self._physical: dict[int, int] = {}
        raw = dev.read(bmap(0) * block_size, 1024)
        magic, kind, _, _, maxlen, first, sequence, start = struct.unpack_from(">8I", raw, 0)
        self.valid = magic == JBD2_MAGIC and kind in (3, 4) and length > 2
        self.first = first or 1
        self.maxlen = min(maxlen or length, length)
        self.sequence = sequence
        self.tid = sequence + 1            # a clean log: the next transaction follows the recorded sequence
        self.head = self.first
        self.committed = 0
        self.flushed = start == 0          # nothing to recover: the superblock is written at the first commit

    def _block(self, logical: int) -> int:
        if logical not in self._physical:
            self._physical[logical] = self._bmap(logical)
        return self._physical[logical]

    def _put(self, logical: int, data: bytes) -> None:
        self.dev.write(self._block(logical) * self.bs, data)

    def _advance(self) -> int:
        at = self.head
        self.head += 1
        if self.head >= self.maxlen:
            self.head = self.first
        return at

    def _superblock(self, start: int, sequence: int) -> None:
        raw = bytearray(self.dev.read(self._block(0) * self.bs, self.bs))
        struct.pack_into(">II", raw, 24, sequence, start)
        self._put(0, bytes(raw))

    def commit(self, cache, now_ns: int) -> None:
        """Write the running transaction: ordered data home, then the log."""
        if cache.data:
            cache.write_home(cache.data)
            cache.data.clear()
        meta = list(cache.meta)
        if not meta or not self.valid:
            return
        if self.flushed:
            self._superblock(self.head, self.tid)
            self.flushed = False
        per_descriptor = (self.bs - 12 - UUID_BYTES) // TAG_BYTES
        log: list[tuple[int, bytes]] = []   # (journal block, bytes) in the order they are logged
        for chunk_start in range(0, len(meta), per_descriptor):
            chunk = meta[chunk_start:chunk_start + per_descriptor]
            desc = bytearray(self.bs)
            struct.pack_into(">III", desc, 0, JBD2_MAGIC, DESCRIPTOR, self.tid)
            pos = 12
            copies = []
            for i, n in enumerate(chunk):
                data = bytearray(cache.blocks[n])
                flags = 0 if i == 0 else FLAG_SAME_UUID
                if data[:4] == struct.pack(">I", JBD2_MAGIC):   # a copy must not look like a journal block
                    data[:4] = bytes(4)
                    flags |= FLAG_ESCAPE
                if i == len(chunk) - 1:
                    flags |= FLAG_LAST_TAG
                struct.pack_into(">IHH", desc, pos, n, 0, flags)
                pos += TAG_BYTES + (UUID_BYTES if i == 0 else 0)   # the first tag carries the (zero) UUID
                copies.append(bytes(data))
            log.append((self._block(self._advance()), bytes(desc)))
            log.extend((self._block(self._advance()), data) for data in copies)
        block = bytearray(self.bs)
        struct.pack_into(">III", block, 0, JBD2_MAGIC, COMMIT, self.tid)
        struct.pack_into(">QI", block, 0x30, now_ns // 1_000_000_000, now_ns % 1_000_000_000)
        log.append((self._block(self._advance()), bytes(block)))
        write_runs(self.dev, self.bs, log)
        cache.checkpoint.update(meta)
        cache.meta.clear()
        self.committed += 1
        self.tid += 1

    def destroy(self, cache, now_ns: int) -> None:
        """Unmount: commit, write everything committed home, mark the log empty."""
        self.commit(cache, now_ns)
        if cache.checkpoint:
            cache.write_home(cache.checkpoint)
            cache.checkpoint.clear()
        if self.committed and self.valid:
            # the destroy path starts and commits one more, empty, transaction (its sequence is measured: a
            # first mount committing transaction 2 leaves the journal superblock at 4)
            self._superblock(0, self.tid + 1)
