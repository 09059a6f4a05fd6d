"""The inode-level interface every simulated filesystem offers to the VFS."""
from __future__ import annotations

import errno
import os
import stat as st
from dataclasses import dataclass

from simulator.errors import SimulatorError


class FsError(SimulatorError):
    """A failed filesystem call, carrying the errno the kernel would return."""

    def __init__(self, code: int, detail: str = ""):
        super().__init__(os.strerror(code))
        self.errno = code
        self.detail = detail

    @property
    def strerror(self) -> str:
        return os.strerror(self.errno)


@dataclass
class Stat:
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    size: int
    mtime: float
    dev: int
    blocks: int = 0
    rdev: tuple[int, int] | None = None

    @property
    def is_dir(self) -> bool:
        return st.S_ISDIR(self.mode)

    @property
    def is_reg(self) -> bool:
        return st.S_ISREG(self.mode)

    @property
    def is_lnk(self) -> bool:
        return st.S_ISLNK(self.mode)

    @property
    def is_blk(self) -> bool:
        return st.S_ISBLK(self.mode)


class FileSystem:
    """Inode operations. Names are single path components; inodes are ints."""

    dev: int = 0
    root_ino: int = 0
    read_only: bool = False

    def mode_of(self, ino: int) -> int:
        """Just the mode bits: path walking asks only this, so it must be cheap."""
        return self.getattr(ino).mode

    def mknod_many(self, dir_ino: int, nodes) -> None:
        """mknod for each (name, mode, rdev) not yet in the directory (a kernel's boot-time device nodes); a
        filesystem may do it faster."""
        for name, mode, rdev in nodes:
            if self.lookup(dir_ino, name) is None:
                self.mknod(dir_ino, name, mode, rdev)

    def lookup(self, dir_ino: int, name: str) -> int | None: raise NotImplementedError
    def getattr(self, ino: int) -> Stat: raise NotImplementedError
    def readdir(self, dir_ino: int) -> list[tuple[str, int]]: raise NotImplementedError
    def mkdir(self, dir_ino: int, name: str, mode: int, uid: int = 0, gid: int = 0) -> int: raise NotImplementedError
    def create(self, dir_ino: int, name: str, mode: int, uid: int = 0, gid: int = 0) -> int: raise NotImplementedError
    def symlink(self, dir_ino: int, name: str, target: str) -> int: raise NotImplementedError
    def mknod(self, dir_ino: int, name: str, mode: int, rdev: tuple[int, int]) -> int: raise NotImplementedError
    def readlink(self, ino: int) -> str: raise NotImplementedError
    def unlink(self, dir_ino: int, name: str) -> None: raise NotImplementedError
    def rmdir(self, dir_ino: int, name: str) -> None: raise NotImplementedError
    def link(self, dir_ino: int, name: str, ino: int) -> None: raise NotImplementedError
    def read(self, ino: int, offset: int, length: int) -> bytes: raise NotImplementedError
    def write(self, ino: int, offset: int, data: bytes) -> None: raise NotImplementedError
    def truncate(self, ino: int, size: int) -> None: raise NotImplementedError
    def setattr(self, ino: int, mode: int | None = None, uid: int | None = None,
                gid: int | None = None, mtime: float | None = None) -> None: raise NotImplementedError

    def data_ranges(self, ino: int, offset: int, length: int) -> list[tuple[int, int]]:
        """Where a file holds data; the default is "everywhere" (no hole information)."""
        return [(offset, length)] if length > 0 else []

    def zero(self, ino: int, offset: int, length: int) -> None:
        step = 1 << 20
        pos = offset
        while pos < offset + length:
            n = min(step, offset + length - pos)
            self.write(ino, pos, bytes(n))
            pos += n

    def sync(self) -> None:
        pass

    def tick(self) -> None:
        """Called between commands: a filesystem with timed writeback does it here."""


def check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name:
        raise FsError(errno.EINVAL)
    if len(name.encode()) > 255:
        raise FsError(errno.ENAMETOOLONG)
