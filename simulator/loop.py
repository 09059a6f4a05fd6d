"""The loop driver: /dev/loopN devices over files (or other block devices)."""
from __future__ import annotations

import errno
import functools
import heapq

from .block import BlockDevice
from .fs.base import FsError
from .listing import BlockedListing

LOOP_MAJOR = 7


@functools.lru_cache(maxsize=8192)
def kernfs_hash(name: str) -> int:
    """kernfs_name_hash: the order in which /sys/block (and so util-linux 2.38's `losetup -a`) lists devices."""
    h = 0
    for c in name.encode():
        h = ((h + (c << 4) + (c >> 4)) * 11) & (2**64 - 1)
    h = (((h * 0x61C8864680B583EB) & (2**64 - 1)) >> 32) & 0x7FFFFFFF
    return h + 2 if h < 2 else min(h, 0x7FFFFFFE)


class LoopDevice(BlockDevice):
    major = LOOP_MAJOR
    # an unbound device's state, as class defaults: a node boots with hundreds of them (bind sets its own)
    bound = False
    fs = None                      # filesystem of the backing file
    ino = 0
    backing_dev: BlockDevice | None = None
    file_name = ""                 # the path as the kernel recorded it (lo_file_name / backing_file)
    st_dev = 0
    offset = 0
    sizelimit = 0
    autoclear = False
    _size = 0
    inode = None                   # the pinned backing inode, when its filesystem pins

    def __init__(self, number: int):
        self.holders = {}              # BlockDevice's, set here: boot makes hundreds and a call each shows
        self.number = number
        self.minor = number
        self.listing: dict[str, tuple[str, str]] = {}   # status line parts per losetup format, this binding

    @property
    def name(self) -> str:
        return f"loop{self.number}"

    @property
    def devnode(self) -> str:
        return f"/dev/loop{self.number}"

    @property
    def size(self) -> int:
        return self._size if self.bound else 0

    def bind(self, fs, ino: int, path: str, st_dev: int, file_size: int, offset: int,
             sizelimit: int = 0, read_only: bool = False, backing_dev: BlockDevice | None = None) -> None:
        self.bound = True
        self.fs, self.ino, self.file_name, self.st_dev = fs, ino, path, st_dev
        self.offset, self.sizelimit = offset, sizelimit
        self.read_only = read_only
        self.backing_dev = backing_dev
        size = max(0, file_size - offset)
        if sizelimit:
            size = min(size, sizelimit)
        self._size = size - size % 512
        self.autoclear = False
        self.listing = {}

    def unbind(self) -> None:
        self.bound = False
        self.fs = None
        self.backing_dev = None
        self.file_name = ""
        self._size = 0
        self.offset = self.sizelimit = 0
        self.autoclear = False
        self.inode = None
        self.listing = {}

    @property
    def deleted(self) -> bool:
        if self.inode is not None:
            return self.inode.nlink <= 0
        return self.backing_dev is None and self.fs is not None and self.fs.is_unlinked(self.ino)

    def _io(self, offset: int, length: int) -> None:
        if not self.bound:
            raise FsError(errno.ENXIO)
        if offset < 0 or offset + length > self._size:
            raise FsError(errno.EIO)

    def read(self, offset, length):
        self._io(offset, length)
        if self.backing_dev is not None:
            return self.backing_dev.read(self.offset + offset, length)
        data = self.fs.read(self.ino, self.offset + offset, length)
        return data + bytes(length - len(data))

    def write(self, offset, data):
        self._io(offset, len(data))
        if self.read_only:
            raise FsError(errno.EROFS)
        if self.backing_dev is not None:
            self.backing_dev.write(self.offset + offset, data)
        else:
            self.fs.write(self.ino, self.offset + offset, data)

    def zero(self, offset, length):
        self._io(offset, length)
        if self.backing_dev is not None:
            self.backing_dev.zero(self.offset + offset, length)
        else:
            self.fs.zero(self.ino, self.offset + offset, length)

    def discard(self, offset, length):
        if self.backing_dev is not None:
            return self.backing_dev.discard(self.offset + offset, length)
        self.zero(offset, length)
        return True

    def data_ranges(self, offset, length):
        if self.backing_dev is not None:
            return [(o - self.offset, n) for o, n in self.backing_dev.data_ranges(self.offset + offset, length)]
        return [(o - self.offset, n) for o, n in self.fs.data_ranges(self.ino, self.offset + offset, length)]


class LoopDriver:
    """Owns the loop devices; numbers are reused lowest-first, as loop-control does."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.devices: dict[int, LoopDevice] = {}   # the devices made so far (see `get`)
        # boot's pool: /dev/loopN exists for each, the device object is made when something first looks it up
        # (a node boots with hundreds of them and a run touches a few)
        self._unmade: set[int] = set()
        self._unbound: list[int] = []
        # the bound devices in both listing orders, kept sorted as devices are bound and detached, so that a
        # listing costs what it prints, not the size of the pool
        self._numeric = BlockedListing()   # keyed by number
        self._kernfs = BlockedListing()    # keyed by (kernfs hash, name)

    def get(self, number: int) -> LoopDevice | None:
        dev = self.devices.get(number)
        if dev is None and number in self._unmade:
            self._unmade.discard(number)
            dev = self.devices[number] = LoopDevice(number)
            self.kernel.devices[(LOOP_MAJOR, number)] = dev
        return dev

    def add(self, number: int) -> LoopDevice:
        dev = self.get(number)
        if dev is None:
            dev = LoopDevice(number)
            self.devices[number] = dev
            self.kernel.register(dev)
            heapq.heappush(self._unbound, number)
        return dev

    def add_at_boot(self, count: int) -> None:
        """loop0..loop{count-1}, as max_loop makes them: their nodes now, the devices when first used."""
        fresh = [n for n in range(count) if n not in self.devices and n not in self._unmade]
        self._unmade.update(fresh)
        self.kernel.register_loop_nodes(fresh)
        self._unbound = sorted(set(self._unbound) | set(fresh))

    def lowest_unbound(self) -> LoopDevice | None:
        """The lowest-numbered device with nothing attached, or None. `_unbound` holds every unbound number
        (and, lazily dropped here, some bound since): O(log n) on a node with thousands."""
        while self._unbound and self.get(self._unbound[0]).bound:
            heapq.heappop(self._unbound)
        return self.get(self._unbound[0]) if self._unbound else None

    def find_free(self) -> LoopDevice:
        """LOOP_CTL_GET_FREE: the lowest unbound device, creating one if all are bound."""
        dev = self.lowest_unbound()
        if dev is not None:
            return dev
        return self.add(max(max(self.devices, default=-1), max(self._unmade, default=-1)) + 1)

    def bound(self, order: str = "numeric") -> list[LoopDevice]:
        """Bound devices by number, or ("kernfs") in the order sysfs lists them."""
        return list((self._kernfs if order == "kernfs" else self._numeric).items())

    def listing(self, order: str, tag: str, line, token) -> str:
        """`line(dev)` of every bound device in that order, re-rendered only where a device was bound or
        detached since, or everywhere when `token` (what else the lines depend on) changed."""
        return (self._kernfs if order == "kernfs" else self._numeric).render(tag, line, token)

    def bind(self, dev: LoopDevice, *args, **kwargs) -> None:
        """LOOP_SET_FD: `dev.bind`'s arguments."""
        dev.bind(*args, **kwargs)
        self._numeric.insert(dev.number, dev)
        self._kernfs.insert((kernfs_hash(dev.name), dev.name), dev)

    def detach(self, dev: LoopDevice) -> None:
        """LOOP_CLR_FD. Modern kernels defer a busy detach with autoclear; the caller decides."""
        backing_dev, fs, ino = dev.backing_dev, dev.fs, dev.ino
        dev.unbind()
        self._numeric.remove(dev.number)
        self._kernfs.remove((kernfs_hash(dev.name), dev.name))
        heapq.heappush(self._unbound, dev.number)
        if backing_dev is not None:
            backing_dev.release(dev.devnode)
        elif fs is not None and hasattr(fs, "unpin"):
            fs.unpin(ino)

    def released(self, dev: LoopDevice) -> None:
        """Called when a holder lets go: an autoclear loop detaches when nobody holds it."""
        if dev.bound and dev.autoclear and dev.open_count == 0:
            self.detach(dev)
