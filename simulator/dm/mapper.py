"""The device-mapper driver: named devices, minors, live/inactive tables, suspend, holders."""
from __future__ import annotations

import bisect
import errno
import functools
import heapq

from simulator.block import SECTOR, BlockDevice
from simulator.fs.base import FsError
from simulator.listing import BlockedListing

from .targets import Target

DM_MAJOR = 253
DM_NAME_LEN = 128


class DmDevice(BlockDevice):
    major = DM_MAJOR

    def __init__(self, name: str, minor: int, uuid: str = ""):
        super().__init__()
        self.name = name
        self.minor = minor
        self.uuid = uuid
        self.live: list[Target] | None = None
        self.inactive: list[Target] | None = None
        self.suspended = False
        self.event_nr = 0
        self._starts: list[int] = []

    @property
    def devnode(self) -> str:
        return f"/dev/mapper/{self.name}"

    @property
    def size(self) -> int:
        if not self.live:
            return 0
        last = self.live[-1]
        return (last.start + last.length) * SECTOR

    def set_live(self, targets: list[Target] | None) -> None:
        self.live = targets
        self._starts = [t.start * SECTOR for t in targets] if targets else []

    def _pieces(self, offset: int, length: int):
        if not self.live or offset < 0 or offset + length > self.size:
            raise FsError(errno.EIO)
        i = bisect.bisect_right(self._starts, offset) - 1
        pos, end = offset, offset + length
        while pos < end:
            target = self.live[i]
            t_start = target.start * SECTOR
            t_end = t_start + target.length * SECTOR
            n = min(end, t_end) - pos
            yield target, pos - t_start, pos - offset, n
            pos += n
            i += 1

    def _within_one(self, offset: int, length: int):
        """The target holding all of [offset, offset+length) and the offset in it, or None: most I/O is a
        block inside one target, and the generator of `_pieces` costs more than the I/O beneath it."""
        live = self.live
        if not live or offset < 0:
            return None
        i = bisect.bisect_right(self._starts, offset) - 1
        target = live[i]
        t_start = self._starts[i]
        if offset + length > t_start + target.length * SECTOR:
            return None
        return target, offset - t_start

    def read(self, offset, length):
        if length == 0:
            return b""
        one = self._within_one(offset, length)
        if one is not None:
            return one[0].read(one[1], length)
        parts = [t.read(o, n) for t, o, _, n in self._pieces(offset, length)]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def write(self, offset, data):
        one = self._within_one(offset, len(data))
        if one is not None:
            return one[0].write(one[1], bytes(data))
        view = memoryview(data)
        for target, o, at, n in self._pieces(offset, len(data)):
            target.write(o, bytes(view[at:at + n]))

    def zero(self, offset, length):
        for target, o, _, n in self._pieces(offset, length):
            target.zero(o, n)

    def discard(self, offset, length):
        # dm-snapshot and dm-error advertise no discard support, so the whole stack has none.
        from .targets import LinearTarget, ZeroTarget
        if not self.live or not all(isinstance(t, (LinearTarget, ZeroTarget)) for t in self.live):
            return False
        for target, o, _, n in self._pieces(offset, length):
            if isinstance(target, LinearTarget) and not target.dev.discard(target.offset * SECTOR + o, n):
                return False
        return True

    def data_ranges(self, offset, length):
        runs = []
        for target, o, at, n in self._pieces(offset, length):
            base = offset + at - o
            runs.extend((base + ro, rn) for ro, rn in target.data_ranges(o, n))
        return runs


@functools.lru_cache(maxsize=8192)
def _hash_str(name: str) -> int:
    """2.6.32's dm-ioctl name hash: 64 buckets, walked in bucket order, newest first."""
    h = 0
    for c in name.encode():
        h = ((h + c) * 2654435387) & 0xFFFFFFFF
    return h & 63


class DeviceMapper:
    def __init__(self, kernel, listing: str = "sorted"):
        self.kernel = kernel
        self.listing = listing     # "sorted" (rb-tree, 6.x) or "hash" (2.6.32 buckets)
        self.by_name: dict[str, DmDevice] = {}
        self.by_minor: dict[int, DmDevice] = {}
        self._created: dict[str, int] = {}
        # every device, kept in DM_LIST_DEVICES order as it is created and removed: a listing is one pass
        self._order = BlockedListing()
        self._freed: list[int] = []        # heap of minors given back, some maybe reused since
        self._next_minor = 0               # every minor below it has been handed out at least once
        self._seq = 0

    def _free_minor(self) -> int:
        """The lowest unused minor, as the kernel's IDR hands them out; a heap of freed ones keeps it O(log n)
        on a node with thousands of devices."""
        while self._freed and self._freed[0] in self.by_minor:
            heapq.heappop(self._freed)
        if self._freed and self._freed[0] < self._next_minor:
            return self._freed[0]
        while self._next_minor in self.by_minor:
            self._next_minor += 1
        return self._next_minor

    def create(self, name: str, uuid: str = "") -> DmDevice:
        if name in self.by_name:
            raise FsError(errno.EBUSY)
        if len(name) >= DM_NAME_LEN or not name or "/" in name:
            raise FsError(errno.EINVAL)
        dev = DmDevice(name, self._free_minor(), uuid)
        self.by_name[name] = dev
        self.by_minor[dev.minor] = dev
        self._seq += 1
        self._created[name] = self._seq
        self._order.insert(self._list_key(dev), dev)
        self.kernel.register(dev)
        return dev

    def load(self, dev: DmDevice, targets: list[Target]) -> None:
        """DM_TABLE_LOAD: the new table becomes inactive and holds its devices."""
        for t in targets:
            for held in t.devices():
                if held is dev:
                    raise FsError(errno.EINVAL)
        self._drop_table(dev, dev.inactive)
        dev.inactive = targets
        for t in targets:
            for held in t.devices():
                held.hold(dev.devnode)

    def clear(self, dev: DmDevice) -> None:
        self._drop_table(dev, dev.inactive)
        dev.inactive = None

    def resume(self, dev: DmDevice) -> None:
        if dev.inactive is not None:
            old = dev.live
            dev.set_live(dev.inactive)
            dev.inactive = None
            self._order.touch(self._list_key(dev))
            self._drop_table(dev, old)
        dev.suspended = False

    def suspend(self, dev: DmDevice) -> None:
        dev.suspended = True

    def remove(self, dev: DmDevice) -> None:
        if dev.open_count > 0:
            raise FsError(errno.EBUSY)
        self._drop_table(dev, dev.live)
        self._drop_table(dev, dev.inactive)
        self._order.remove(self._list_key(dev))
        dev.set_live(None)
        dev.inactive = None
        del self.by_name[dev.name]
        del self.by_minor[dev.minor]
        heapq.heappush(self._freed, dev.minor)
        self._created.pop(dev.name, None)
        self.kernel.unregister(dev)

    def _drop_table(self, dev: DmDevice, targets: list[Target] | None) -> None:
        for t in targets or []:
            for held in t.devices():
                held.release(dev.devnode)
                self.kernel.released(held)

    def get(self, name: str) -> DmDevice | None:
        return self.by_name.get(name)

    def listed(self) -> list[DmDevice]:
        """Devices in the order the kernel's DM_LIST_DEVICES returns them."""
        return list(self._order.items())

    def table_listing(self, line) -> str:
        """`line(dev)` of every device in listing order, re-rendered only where a device came, went or resumed
        a new table since the last listing."""
        return self._order.render("table", line)

    def _list_key(self, dev: DmDevice):
        """2.6.32 walks its hash buckets, newest first within one; 6.x walks an rb-tree of names (bytewise)."""
        if self.listing == "hash":
            return (_hash_str(dev.name), -self._created[dev.name])
        return dev.name.encode()
