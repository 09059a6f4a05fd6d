"""dm targets: how each maps I/O, and how the kernel prints its table and status lines."""
from __future__ import annotations

import errno

from simulator.block import SECTOR, BlockDevice
from simulator.fs.base import FsError


def devno(dev: BlockDevice) -> str:
    return f"{dev.major}:{dev.minor}"


class Target:
    name = ""

    def __init__(self, start: int, length: int):
        self.start = start      # sectors
        self.length = length    # sectors

    def devices(self) -> list[BlockDevice]:
        return []

    def table_args(self) -> str:
        return ""

    def status_args(self) -> str:
        return ""

    def read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def write(self, offset: int, data: bytes) -> None:
        raise NotImplementedError

    def zero(self, offset: int, length: int) -> None:
        self.write(offset, bytes(length))

    def data_ranges(self, offset: int, length: int) -> list[tuple[int, int]]:
        return [(offset, length)]


class LinearTarget(Target):
    name = "linear"

    def __init__(self, start, length, dev: BlockDevice, offset_sectors: int):
        super().__init__(start, length)
        self.dev = dev
        self.offset = offset_sectors

    def devices(self):
        return [self.dev]

    def table_args(self):
        return f"{devno(self.dev)} {self.offset}"

    def read(self, offset, length):
        return self.dev.read(self.offset * SECTOR + offset, length)

    def write(self, offset, data):
        self.dev.write(self.offset * SECTOR + offset, data)

    def zero(self, offset, length):
        self.dev.zero(self.offset * SECTOR + offset, length)

    def data_ranges(self, offset, length):
        base = self.offset * SECTOR
        return [(o - base, n) for o, n in self.dev.data_ranges(base + offset, length)]


class ZeroTarget(Target):
    name = "zero"

    def read(self, offset, length):
        return bytes(length)

    def write(self, offset, data):
        pass

    def data_ranges(self, offset, length):
        return []


class ErrorTarget(Target):
    name = "error"

    def read(self, offset, length):
        raise FsError(errno.EIO)

    def write(self, offset, data):
        raise FsError(errno.EIO)


class SnapshotTarget(Target):
    """Copy-on-write of `origin` into `cow`, chunk by chunk, as dm-snap's exception stores do.

    Transient (N) stores put exceptions in the COW device from sector 0 in allocation order.
    Persistent (P) stores keep a header chunk and one metadata chunk per (chunk bytes / 16)
    exceptions before the data, so they survive a reboot.
    """

    name = "snapshot"

    def __init__(self, start, length, origin: BlockDevice, cow: BlockDevice, persistent: bool, chunk: int):
        super().__init__(start, length)
        self.origin = origin
        self.cow = cow
        self.persistent = persistent
        self.chunk = chunk                   # sectors
        self.exceptions: dict[int, int] = {}  # origin chunk -> cow chunk
        self.valid = True
        self.per_area = chunk * SECTOR // 16
        self.next_free = 2 if persistent else 0   # in chunks
        if persistent:
            self._write_header()

    def devices(self):
        return [self.origin, self.cow]

    def table_args(self):
        return f"{devno(self.origin)} {devno(self.cow)} {'P' if self.persistent else 'N'} {self.chunk}"

    def status_args(self):
        if not self.valid:
            return "Invalid"
        total = self.cow.size // SECTOR
        if self.persistent:
            areas = 1 + len(self.exceptions) // self.per_area
            return f"{self.next_free * self.chunk}/{total} {(1 + areas) * self.chunk}"
        return f"{self.next_free * self.chunk}/{total} 0"

    def _write_header(self) -> None:
        header = b"SnAp" + (1).to_bytes(4, "little") + (1).to_bytes(4, "little") + self.chunk.to_bytes(4, "little")
        self.cow.write(0, header)

    def _allocate(self) -> int:
        if self.persistent and (self.next_free - 1) % (self.per_area + 1) == 0:
            self.next_free += 1              # skip the next metadata area
        chunk = self.next_free
        if (chunk + 1) * self.chunk * SECTOR > self.cow.size:
            self.valid = False
            raise FsError(errno.EIO)
        self.next_free += 1
        return chunk

    def _check(self) -> None:
        if not self.valid:
            raise FsError(errno.EIO)

    def _chunks(self, offset: int, length: int):
        size = self.chunk * SECTOR
        pos = offset
        end = offset + length
        while pos < end:
            index, within = divmod(pos, size)
            n = min(size - within, end - pos)
            yield index, within, pos - offset, n
            pos += n

    def read(self, offset, length):
        self._check()
        size = self.chunk * SECTOR
        index, within = divmod(offset, size)
        if within + length <= size:   # inside one chunk, as most block reads are
            cow_chunk = self.exceptions.get(index)
            if cow_chunk is None:
                return self.origin.read(offset, length)
            return self.cow.read(cow_chunk * size + within, length)
        out = bytearray(length)
        for index, within, at, n in self._chunks(offset, length):
            cow_chunk = self.exceptions.get(index)
            if cow_chunk is None:
                out[at:at + n] = self.origin.read(index * size + within, n)
            else:
                out[at:at + n] = self.cow.read(cow_chunk * size + within, n)
        return bytes(out)

    def write(self, offset, data):
        self._check()
        size = self.chunk * SECTOR
        view = memoryview(data)
        for index, within, at, n in self._chunks(offset, len(data)):
            cow_chunk = self.exceptions.get(index)
            if cow_chunk is None:
                cow_chunk = self._allocate()
                span = min(size, self.origin.size - index * size)
                if within == 0 and n >= span:   # the write replaces the whole chunk: nothing to copy first
                    self.cow.write(cow_chunk * size, bytes(view[at:at + n]))
                elif within + n <= span:   # the copied chunk with the write laid over it, in one write
                    chunk = bytearray(self.origin.read(index * size, span))
                    chunk[within:within + n] = view[at:at + n]
                    self.cow.write(cow_chunk * size, bytes(chunk))
                else:   # past the origin's end (a snapshot longer than its origin): copy, then write
                    self.cow.write(cow_chunk * size, self.origin.read(index * size, span))
                    self.cow.write(cow_chunk * size + within, bytes(view[at:at + n]))
                self.exceptions[index] = cow_chunk
                if self.persistent:
                    self._write_exception(index, cow_chunk)
                continue
            self.cow.write(cow_chunk * size + within, bytes(view[at:at + n]))

    def _write_exception(self, old: int, new: int) -> None:
        number = len(self.exceptions) - 1
        area, slot = divmod(number, self.per_area)
        area_chunk = 1 + area * (self.per_area + 1)
        record = old.to_bytes(8, "little") + new.to_bytes(8, "little")
        self.cow.write(area_chunk * self.chunk * SECTOR + slot * 16, record)

    def data_ranges(self, offset, length):
        if not self.exceptions:
            return self.origin.data_ranges(offset, length)
        return [(offset, length)]
