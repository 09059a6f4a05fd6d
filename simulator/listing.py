"""A kernel list the tools print whole (`dmsetup table`, `losetup -a`), kept sorted in blocks that each remember
their printed text.

A full node lists thousands of lines. Rendering each device at every listing costs a visit to every device
object, and on a large heap that is cache misses more than work: the per-line cost doubled between 1,500 and
15,000 devices. Here a change re-renders only the block it falls in, and a listing joins a few hundred ready
strings: its cost per line stays flat as the node grows.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

LOAD = 64      # a block splits at twice this


class BlockedListing:
    """(key, item) pairs in key order; keys are unique and comparable."""

    def __init__(self) -> None:
        self._blocks: list[list[tuple]] = []
        self._firsts: list = []                      # each block's first key, for bisect
        self._texts: list[dict[str, tuple]] = []     # per block: render tag -> (token, text)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def _find(self, key) -> int:
        return max(0, bisect.bisect_right(self._firsts, key) - 1)

    def insert(self, key, item) -> None:
        if not self._blocks:
            self._blocks, self._firsts, self._texts = [[(key, item)]], [key], [{}]
            self._len = 1
            return
        i = self._find(key)
        block = self._blocks[i]
        bisect.insort(block, (key, item), key=lambda e: e[0])
        self._firsts[i] = block[0][0]
        self._texts[i] = {}
        self._len += 1
        if len(block) > 2 * LOAD:
            self._blocks[i:i + 1] = [block[:LOAD], block[LOAD:]]
            self._firsts[i:i + 1] = [block[0][0], block[LOAD][0]]
            self._texts[i:i + 1] = [{}, {}]

    def remove(self, key) -> None:
        i = self._find(key)
        block = self._blocks[i] if self._blocks else []
        j = bisect.bisect_left(block, key, key=lambda e: e[0])
        if j == len(block) or block[j][0] != key:
            raise KeyError(key)
        del block[j]
        self._len -= 1
        if block:
            self._firsts[i] = block[0][0]
            self._texts[i] = {}
        else:
            del self._blocks[i], self._firsts[i], self._texts[i]

    def touch(self, key) -> None:
        """The item under `key` prints differently now: its block renders again at the next listing."""
        if self._blocks:
            self._texts[self._find(key)] = {}

    def items(self) -> Iterator:
        for block in self._blocks:
            for _, item in block:
                yield item

    def render(self, tag: str, line: Callable[[object], str], token=None) -> str:
        """Every item's `line` in order, from each block's remembered text while the block is unchanged and
        `token` (whatever else the lines depend on) is the one it was rendered with."""
        parts = []
        for block, texts in zip(self._blocks, self._texts):
            cached = texts.get(tag)
            if cached is None or cached[0] != token:
                cached = texts[tag] = (token, "".join(line(item) for _, item in block))
            parts.append(cached[1])
        return "".join(parts)
