"""Sparse byte storage: pages that were never written (or were written with zeros) cost nothing."""
from __future__ import annotations

PAGE = 4096
_ZERO_PAGE = bytes(PAGE)
_writes = [0]   # bumped by every change of any stored byte: caches above the block layer compare it


def write_epoch() -> int:
    return _writes[0]


class SparseData:
    """A byte array of any size kept as a dict of non-zero 4 KiB pages."""

    __slots__ = ("pages",)

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        out = bytearray(length)
        first, last = offset // PAGE, (offset + length - 1) // PAGE
        pages = self.pages
        if len(pages) < last - first + 1:
            indices = sorted(i for i in pages if first <= i <= last)
        else:
            indices = [i for i in range(first, last + 1) if i in pages]
        for index in indices:
            page = pages[index]
            page_start = index * PAGE
            lo = max(offset, page_start)
            hi = min(offset + length, page_start + PAGE)
            out[lo - offset:hi - offset] = page[lo - page_start:hi - page_start]
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        _writes[0] += 1
        pos = 0
        length = len(data)
        pages = self.pages
        while pos < length:
            index, in_page = divmod(offset + pos, PAGE)
            n = PAGE - in_page
            if n > length - pos:
                n = length - pos
            chunk = data[pos:pos + n]
            if n == PAGE:   # a whole page replaced: no read-modify-write
                if chunk == _ZERO_PAGE:
                    pages.pop(index, None)
                else:
                    pages[index] = bytearray(chunk)
                pos += n
                continue
            page = pages.get(index)
            if page is None:
                if _ZERO_PAGE.startswith(chunk):   # all zeros; any() would walk it byte by byte
                    pos += n
                    continue
                page = bytearray(PAGE)
                pages[index] = page
            page[in_page:in_page + n] = chunk
            if page == _ZERO_PAGE:
                del pages[index]
            pos += n

    def zero(self, offset: int, length: int) -> None:
        """Make a range read as zeros (hole punching; also what a write of zeros does)."""
        _writes[0] += 1
        end = offset + length
        first_full = -(-offset // PAGE)
        last_full = end // PAGE
        if offset % PAGE:
            self.write(offset, bytes(min(end, first_full * PAGE) - offset))
        if last_full > first_full:
            if len(self.pages) < last_full - first_full:
                for i in [i for i in self.pages if first_full <= i < last_full]:
                    del self.pages[i]
            else:
                for i in range(first_full, last_full):
                    self.pages.pop(i, None)
        if end % PAGE and last_full >= first_full:
            self.write(max(offset, last_full * PAGE), bytes(end - max(offset, last_full * PAGE)))

    def truncate(self, size: int) -> None:
        _writes[0] += 1
        keep = -(-size // PAGE)
        for i in [i for i in self.pages if i >= keep]:
            del self.pages[i]
        if size % PAGE and (size // PAGE) in self.pages:
            page = self.pages[size // PAGE]
            page[size % PAGE:] = bytes(PAGE - size % PAGE)

    def data_ranges(self, offset: int, length: int) -> list[tuple[int, int]]:
        """(start, length) runs of pages holding data within [offset, offset+length)."""
        end = offset + length
        runs: list[tuple[int, int]] = []
        for index in sorted(i for i in self.pages if i * PAGE < end and (i + 1) * PAGE > offset):
            lo = max(offset, index * PAGE)
            hi = min(end, (index + 1) * PAGE)
            if runs and runs[-1][0] + runs[-1][1] == lo:
                runs[-1] = (runs[-1][0], runs[-1][1] + hi - lo)
            else:
                runs.append((lo, hi - lo))
        return runs

    @property
    def allocated_bytes(self) -> int:
        return len(self.pages) * PAGE
