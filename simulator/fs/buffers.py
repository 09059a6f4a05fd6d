"""A mounted filesystem's blocks held in memory, as the kernel's buffer and page cache hold them.

Nothing a file operation changes reaches the device until the filesystem writes it back (a journal commit at
`sync`, at `umount`, or when the running transaction is 5 s old). What the device shows in between, and so
which snapshot chunks a key injection copies, follows from that: measured on our own node, mkdir and write
change no chunk; the first sync changes them all (README "Known gaps" had the simulator write in place).
"""
from __future__ import annotations

from simulator import sparse


class BufferCache:
    def __init__(self, dev, block_size: int, clock):
        self.dev = dev
        self.bs = block_size
        self.clock = clock
        self.dirty_since: float | None = None   # when the oldest unwritten change was made (commit timers)
        self.blocks: dict[int, bytearray] = {}
        self.meta: dict[int, None] = {}       # dirty metadata, in the order it first joined the transaction
        self.data: set[int] = set()           # dirty file data (ordered mode: written before the commit)
        self.checkpoint: set[int] = set()     # committed to the journal, not yet written to their home
        self._epoch = sparse.write_epoch()

    @property
    def dirty(self) -> bool:
        return bool(self.meta or self.data)

    def _fresh(self) -> None:
        """Somebody wrote to some device since we last looked: clean copies may be stale, dirty ones are ours."""
        epoch = sparse.write_epoch()
        if epoch != self._epoch:
            keep = self.meta.keys() | self.data | self.checkpoint
            self.blocks = {n: b for n, b in self.blocks.items() if n in keep}
            self._epoch = epoch

    def block(self, n: int) -> bytearray:
        """The cached block itself (callers that change it must mark it)."""
        self._fresh()
        buf = self.blocks.get(n)
        if buf is None:
            buf = bytearray(self.dev.read(n * self.bs, self.bs))
            self.blocks[n] = buf
        return buf

    def mark(self, n: int, meta: bool = True) -> None:
        if self.dirty_since is None:
            self.dirty_since = self.clock.now
        if meta:
            self.meta.setdefault(n, None)
            self.data.discard(n)
        elif n not in self.meta:
            self.data.add(n)

    def read(self, offset: int, length: int) -> bytes:
        bs = self.bs
        first, last = offset // bs, (offset + length - 1) // bs
        if first == last:
            within = offset - first * bs
            return bytes(self.block(first)[within:within + length])
        return b"".join(bytes(self.block(n)) for n in range(first, last + 1))[offset - first * bs:][:length]

    def write(self, offset: int, data: bytes, meta: bool = True) -> None:
        bs = self.bs
        pos = 0
        while pos < len(data):
            n, within = divmod(offset + pos, bs)
            count = min(bs - within, len(data) - pos)
            if count == bs:   # the whole block is replaced: nothing of it needs reading
                buf = self.blocks.get(n) or bytearray(bs)
            else:
                buf = self.block(n)
            buf[within:within + count] = data[pos:pos + count]
            self.blocks[n] = buf
            self.mark(n, meta)
            pos += count

    def put(self, n: int, data: bytes, meta: bool = True) -> None:
        self.blocks[n] = bytearray(data)
        self.mark(n, meta)

    def write_home(self, blocks) -> None:
        """Write blocks to their place on the device (after which clean copies stay valid)."""
        self._fresh()
        write_runs(self.dev, self.bs, [(n, self.blocks[n]) for n in sorted(blocks)])
        self._epoch = sparse.write_epoch()


def write_runs(dev, bs: int, blocks: list[tuple[int, bytes]]) -> None:
    """Write (block number, bytes) in the order given, as one write per run of consecutive blocks: the layers
    below see the same bytes in the same order, in fewer calls."""
    i = 0
    while i < len(blocks):
        j = i + 1
        while j < len(blocks) and blocks[j][0] == blocks[j - 1][0] + 1:
            j += 1
        dev.write(blocks[i][0] * bs, b"".join(bytes(data) for _, data in blocks[i:j]))
        i = j
