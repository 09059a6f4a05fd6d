"""The simulated kernel: block-device registry, loop and dm drivers, /dev nodes, mounts."""
from __future__ import annotations

import errno
import stat as st

from .block import BlockDevice
from .dm.mapper import DeviceMapper, DmDevice
from .fs.base import FsError
from .fs.memfs import MemoryFS
from .loop import LOOP_MAJOR, LoopDevice, LoopDriver
from .vfs import VFS


def new_encode_dev(major: int, minor: int) -> int:
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


class Kernel:
    def __init__(self, dialect, clock, rng, host_dev: tuple[int, int] = (8, 3), first_ino: int = 131073,
                 rootfs: MemoryFS | None = None, loop_count: int | None = None):
        self.dialect = dialect
        self.clock = clock
        self.rng = rng
        self.host_dev = host_dev
        self.devices: dict[tuple[int, int], BlockDevice] = {}
        self.rootfs = rootfs or MemoryFS(new_encode_dev(*host_dev), clock, first_ino=first_ino)
        self.vfs = VFS(self.rootfs)
        self._dev_dirs: dict = {}
        for d in ("/dev", "/dev/mapper", "/tmp", "/etc", "/proc", "/sys", "/root", "/mnt"):
            self.vfs.mkdir_p(d)
        self.loop = LoopDriver(self)
        self.dm = DeviceMapper(self, dialect.dm_listing)
        # loop nodes made at boot: the dialect's, or a node's own count (el6's max_loop / CREATE_NC_LOOP_DEVICES)
        self.loop_count = loop_count
        self.loop.add_at_boot(dialect.initial_loops if loop_count is None else loop_count)
        self.swaps: set[tuple[int, int]] = set()

    def reboot(self) -> Kernel:
        """A new kernel over the same host disk: loops, dm devices and mounts are gone, files stay (files
        deleted while a loop held them are gone too), device nodes the old kernel made disappear with devtmpfs."""
        for dev in list(self.loop.bound()):
            if dev.backing_dev is None and dev.fs is not None and hasattr(dev.fs, "unpin"):
                dev.fs.unpin(dev.ino)
        dev_dir = self.vfs.walk("/dev")
        for name, _ in list(dev_dir.fs.readdir(dev_dir.ino)):
            if name.startswith(("dm-", "loop")):
                dev_dir.fs.unlink(dev_dir.ino, name)
        mapper = self.vfs.walk("/dev/mapper")
        for name, _ in list(mapper.fs.readdir(mapper.ino)):
            if name != "control":
                mapper.fs.unlink(mapper.ino, name)
        return Kernel(self.dialect, self.clock, self.rng, self.host_dev, rootfs=self.rootfs,
                      loop_count=self.loop_count)

    # -- registry and /dev ----------------------------------------------------------
    def _dev_dir(self, path: str):
        """/dev or /dev/mapper, walked again only if the mount table changed or the entry no longer names the
        directory found last time (a node makes hundreds of device nodes; each would walk the path)."""
        cached = self._dev_dirs.get(path)
        if cached is not None:
            mounts, parent, name, loc = cached
            if mounts == len(self.vfs.mounts) and parent.fs.lookup(parent.ino, name) == loc.ino:
                return loc
        head, _, name = path.rpartition("/")
        parent = self.vfs.walk(head or "/")
        loc = self.vfs.walk(path)
        self._dev_dirs[path] = (len(self.vfs.mounts), parent, name, loc)
        return loc

    def register(self, dev: BlockDevice) -> None:
        self.devices[dev.key] = dev
        root = self._dev_dir("/dev")
        if isinstance(dev, LoopDevice):
            self._mknod(root, dev.name, dev.key)
        elif isinstance(dev, DmDevice):
            self._mknod(root, f"dm-{dev.minor}", dev.key)
            mapper = self._dev_dir("/dev/mapper")
            if mapper.fs.lookup(mapper.ino, dev.name) is None:
                mapper.fs.symlink(mapper.ino, dev.name, f"../dm-{dev.minor}")

    def register_loop_nodes(self, numbers: list[int]) -> None:
        """Boot's loop pool: the nodes `register` would make, /dev looked up once (the devices behind them are
        made by the loop driver when first looked up: see `device`)."""
        root = self._dev_dir("/dev")
        mode = st.S_IFBLK | 0o660
        root.fs.mknod_many(root.ino, [(f"loop{n}", mode, (LOOP_MAJOR, n)) for n in numbers])

    def device(self, key: tuple[int, int]) -> BlockDevice | None:
        """The device registered under (major, minor), or None."""
        dev = self.devices.get(key)
        if dev is None and key[0] == LOOP_MAJOR:
            return self.loop.get(key[1])
        return dev

    def unregister(self, dev: BlockDevice) -> None:
        self.devices.pop(dev.key, None)
        if isinstance(dev, DmDevice):
            root = self.vfs.walk("/dev")
            if root.fs.lookup(root.ino, f"dm-{dev.minor}") is not None:
                root.fs.unlink(root.ino, f"dm-{dev.minor}")
            mapper = self.vfs.walk("/dev/mapper")
            if mapper.fs.lookup(mapper.ino, dev.name) is not None:
                mapper.fs.unlink(mapper.ino, dev.name)

    def _mknod(self, parent, name: str, key: tuple[int, int]) -> None:
        if parent.fs.lookup(parent.ino, name) is None:
            parent.fs.mknod(parent.ino, name, st.S_IFBLK | 0o660, key)

    def released(self, dev: BlockDevice) -> None:
        if isinstance(dev, LoopDevice):
            self.loop.released(dev)

    # -- lookups ----------------------------------------------------------------------
    def device_at(self, path: str) -> BlockDevice:
        """The block device a path names (ENOENT if no node, ENXIO if no device behind it)."""
        attr = self.vfs.stat(path)
        if not attr.is_blk or attr.rdev is None:
            raise FsError(errno.ENOTBLK)
        dev = self.device(attr.rdev)
        if dev is None:
            raise FsError(errno.ENXIO)
        return dev

    def device_by_number(self, text: str) -> BlockDevice:
        major, _, minor = text.partition(":")
        try:
            key = (int(major), int(minor))
        except ValueError:
            raise FsError(errno.ENODEV) from None
        dev = self.device(key)
        if dev is None:
            raise FsError(errno.ENXIO)
        return dev

    def resolve_dm_arg(self, arg: str) -> BlockDevice:
        if ":" in arg and not arg.startswith("/"):
            return self.device_by_number(arg)
        try:
            return self.device_at(arg)
        except FsError as exc:
            raise FsError(errno.ENODEV if exc.errno in (errno.ENOENT, errno.ENOTBLK) else exc.errno) from None

    def name_of(self, dev: BlockDevice) -> str:
        return dev.devnode

    def mounted_devices(self) -> set[tuple[int, int]]:
        return {m.device_key for m in self.vfs.mounts if m.device_key}
