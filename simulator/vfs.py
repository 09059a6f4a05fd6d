"""Path walking over the node's filesystems: mounts, symlinks, `..`, and the errno each step returns."""
from __future__ import annotations

import errno
import stat as st
from dataclasses import dataclass
from typing import NamedTuple

from .fs.base import FileSystem, FsError, Stat

MAX_SYMLINKS = 40


class Location(NamedTuple):   # a tuple: every path step makes one, so it must be cheap to build
    fs: FileSystem
    ino: int


@dataclass
class Mount:
    source: str          # device path as given to mount
    target: str          # canonical mount point path
    fs: FileSystem
    covered: Location    # the directory the mount hides
    fstype: str
    options: str
    device_key: tuple[int, int] | None


class VFS:
    def __init__(self, root: FileSystem):
        self.root_fs = root
        self.mounts: list[Mount] = []
        self._covering: dict[tuple[int, int], Mount] = {}
        # (path, follow) -> Location of paths that resolve without entering a mounted filesystem, kept while
        # the root fs namespace and the mount table are unchanged (a mounted fs can change under its device)
        self._walk_cache: dict[tuple[str, bool | None], Location | str] = {}
        self._walk_gen = -1
        self._left_root = False

    # -- mounts -------------------------------------------------------------------
    def mount_at(self, loc: Location) -> Mount | None:
        return self._covering.get((id(loc.fs), loc.ino))

    def add_mount(self, mount: Mount) -> None:
        self._walk_cache.clear()
        self.mounts.append(mount)
        self._covering[(id(mount.covered.fs), mount.covered.ino)] = mount

    def remove_mount(self, mount: Mount) -> None:
        self._walk_cache.clear()
        self.mounts.remove(mount)
        self._covering.pop((id(mount.covered.fs), mount.covered.ino), None)
        for other in self.mounts:  # re-expose a mount that was stacked on the same directory
            if (other.covered.fs, other.covered.ino) == (mount.covered.fs, mount.covered.ino):
                self._covering[(id(other.covered.fs), other.covered.ino)] = other

    def _enter(self, loc: Location) -> Location:
        if not self._covering:
            return loc
        seen = 0
        while True:
            mount = self.mount_at(loc)
            if mount is None or seen > 16:
                return loc
            loc = Location(mount.fs, mount.fs.root_ino)
            seen += 1

    def _mount_of_root(self, loc: Location) -> Mount | None:
        if loc.ino != loc.fs.root_ino:
            return None
        for mount in reversed(self.mounts):
            if mount.fs is loc.fs:
                return mount
        return None

    # -- walking ------------------------------------------------------------------
    def root(self) -> Location:
        return self._enter(Location(self.root_fs, self.root_fs.root_ino))

    def _cacheable(self, path: str) -> bool:
        """Whether lookups of `path` may use the cache (absolute, on a root fs that counts its removals), after
        dropping it if a name went away since it was filled."""
        gen = getattr(self.root_fs, "generation", None)
        if gen is None or not path.startswith("/"):
            return False
        if gen != self._walk_gen:
            self._walk_cache.clear()
            self._walk_gen = gen
        return True

    def walk(self, path: str, follow: bool = True, cwd: str = "/", _links: int = 0) -> Location:
        # _cacheable's test, inlined: this is the simulator's hottest function
        gen = getattr(self.root_fs, "generation", None)
        if gen is None or path[:1] != "/":
            return self._walk(path, follow, cwd, 0)[0]
        if gen != self._walk_gen:
            self._walk_cache.clear()
            self._walk_gen = gen
        key = (path, follow)
        loc = self._walk_cache.get(key)
        if loc is not None:
            return loc
        head, _, name = path.rpartition("/")
        if name and name not in (".", "..") and "//" not in path and "/./" not in path and "/../" not in path:
            # one step below the parent, itself looked up (and cached) the same way: a node's paths share
            # long prefixes, and a lookup that fails (a file about to be made) still reuses them
            parent = self.walk(head or "/")
            fs = parent.fs
            if not st.S_ISDIR(fs.mode_of(parent.ino)):
                raise FsError(errno.ENOTDIR)
            child = fs.lookup(parent.ino, name)
            if child is None:
                raise FsError(errno.ENOENT)
            loc = self._enter(Location(fs, child))
            if not (follow and st.S_ISLNK(loc.fs.mode_of(loc.ino))):
                if loc.fs is self.root_fs and (head or "/", True) in self._walk_cache:
                    self._walk_cache[key] = loc
                return loc
            joined = self._link_target(head or "/", loc)
            if joined is not None and _links < MAX_SYMLINKS:
                # a link at the end (/dev/mapper/NAME -> ../dm-N): its target, looked up the same way
                loc = self.walk(joined, True, "/", _links + 1)
                if (loc.fs is self.root_fs and (joined, True) in self._walk_cache
                        and (head or "/", True) in self._walk_cache):
                    self._walk_cache[key] = loc
                return loc
        self._left_root = False
        loc = self._walk(path, follow, cwd, 0)[0]
        if not self._left_root:
            self._walk_cache[key] = loc
        return loc

    def _link_target(self, parent: str, link: Location) -> str | None:
        """The absolute, plain path a symlink in `parent` points to, or None when only a full walk can say
        (`.`/`..` inside the target, repeated slashes): leading `..`s are taken off the parent's canonical path."""
        target = link.fs.readlink(link.ino)
        if not target.startswith("/"):
            base = self.canonical(parent).rstrip("/")
            while target.startswith("../"):
                base, target = base.rpartition("/")[0], target[3:]
            target = base + "/" + target
        if target.endswith("/") or "//" in target or "/./" in target or "/../" in target or target.endswith(
                ("/.", "/..")):
            return None
        return target

    def _walk(self, path: str, follow: bool, cwd: str, depth: int) -> tuple[Location, str]:
        if not path:
            raise FsError(errno.ENOENT)
        if not path.startswith("/"):
            path = cwd.rstrip("/") + "/" + path
        parts = [p for p in path.split("/") if p and p != "."]
        loc = self.root()
        stack: list[Location] = [loc]
        canon: list[str] = []
        last_index = len(parts) - 1
        enter = self._enter
        for i, name in enumerate(parts):
            fs = loc.fs
            if not st.S_ISDIR(fs.mode_of(loc.ino)):
                raise FsError(errno.ENOTDIR)
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                    canon.pop()
                loc = stack[-1]
                continue
            child = fs.lookup(loc.ino, name)
            if child is None:
                raise FsError(errno.ENOENT)
            nxt = enter(Location(fs, child))
            if nxt.fs is not self.root_fs:
                self._left_root = True
            # a trailing slash makes the last component a directory to enter: its link is followed
            if st.S_ISLNK(nxt.fs.mode_of(nxt.ino)) and (follow or i != last_index or path.endswith("/")):
                depth += 1
                if depth > MAX_SYMLINKS:
                    raise FsError(errno.ELOOP)
                target = nxt.fs.readlink(nxt.ino)
                base = "/" + "/".join(canon)
                rest = "/".join(parts[i + 1:])
                joined = target if target.startswith("/") else base.rstrip("/") + "/" + target
                if rest:
                    joined = joined.rstrip("/") + "/" + rest
                if path.endswith("/"):
                    joined = joined.rstrip("/") + "/"
                return self._walk(joined, follow, "/", depth)
            stack.append(nxt)
            canon.append(name)
            loc = nxt
        if path.endswith("/") and parts and not st.S_ISDIR(loc.fs.mode_of(loc.ino)):
            raise FsError(errno.ENOTDIR)
        return loc, "/" + "/".join(canon)

    def canonical(self, path: str, cwd: str = "/", _links: int = 0) -> str:
        if not self._cacheable(path):
            return self._walk(path, True, cwd, 0)[1]
        key = (path, None)   # beside walk's (path, follow) entries, under the same rules
        found = self._walk_cache.get(key)
        if found is None:
            found = self._canonical_below_parent(path, _links) if _links < MAX_SYMLINKS else None
            if found is not None:
                return found
            self._left_root = False
            found = self._walk(path, True, cwd, 0)[1]
            if not self._left_root:
                self._walk_cache[key] = found
        return found

    def _canonical_below_parent(self, path: str, links: int) -> str | None:
        """The canonical path of a plain absolute path from its parent's (cached) one, as `walk` finds a
        location from its parent's: a loop attached to a file just made would otherwise walk every component.
        None when only a full walk can say."""
        head, _, name = path.rpartition("/")
        if not name or name in (".", "..") or "//" in path or "/./" in path or "/../" in path:
            return None
        loc = self.walk(path, follow=False)      # the errors a full walk would raise, and the cache filled
        parent = head or "/"
        if st.S_ISLNK(loc.fs.mode_of(loc.ino)):
            target = self._link_target(parent, loc)
            if target is None:
                return None
            found = self.canonical(target, "/", links + 1)
            resolved_on_root = (target, None) in self._walk_cache
        else:
            found = self.canonical(parent).rstrip("/") + "/" + name
            resolved_on_root = True
        # cached under walk's rule: only what resolved without entering a mounted filesystem
        if (resolved_on_root and loc.fs is self.root_fs and (parent, None) in self._walk_cache
                and (path, False) in self._walk_cache):
            self._walk_cache[(path, None)] = found
        return found

    def parent(self, path: str, cwd: str = "/") -> tuple[Location, str]:
        """The directory that holds the last component of `path`, and that component."""
        if not path.startswith("/"):
            path = cwd.rstrip("/") + "/" + path
        stripped = path.rstrip("/")
        if not stripped:
            raise FsError(errno.EEXIST)
        head, _, name = stripped.rpartition("/")
        if name in (".", ".."):
            raise FsError(errno.EINVAL)
        loc = self.walk(head or "/", True)
        if not loc.fs.getattr(loc.ino).is_dir:
            raise FsError(errno.ENOTDIR)
        return loc, name

    # -- convenience --------------------------------------------------------------
    def stat(self, path: str, follow: bool = True) -> Stat:
        loc = self.walk(path, follow)
        return loc.fs.getattr(loc.ino)

    def exists(self, path: str, follow: bool = True) -> bool:
        try:
            self.walk(path, follow)
            return True
        except FsError:
            return False

    def lookup_child(self, loc: Location, name: str) -> Location | None:
        ino = loc.fs.lookup(loc.ino, name)
        return None if ino is None else self._enter(Location(loc.fs, ino))

    def read_file(self, path: str) -> bytes:
        loc = self.walk(path)
        attr = loc.fs.getattr(loc.ino)
        if attr.is_dir:
            raise FsError(errno.EISDIR)
        return loc.fs.read(loc.ino, 0, attr.size)

    def write_file(self, path: str, data: bytes, append: bool = False, mode: int = 0o644) -> Location:
        loc = self.open_for_write(path, truncate=not append, mode=mode)
        offset = loc.fs.getattr(loc.ino).size if append else 0
        loc.fs.write(loc.ino, offset, data)
        return loc

    def open_for_write(self, path: str, truncate: bool, mode: int = 0o644) -> Location:
        try:
            loc = self.walk(path)
        except FsError as exc:
            if exc.errno != errno.ENOENT:
                raise
            parent, name = self.parent(path)
            ino = parent.fs.create(parent.ino, name, mode)
            return Location(parent.fs, ino)
        attr = loc.fs.getattr(loc.ino)
        if attr.is_dir:
            raise FsError(errno.EISDIR)
        if truncate and attr.is_reg:
            loc.fs.truncate(loc.ino, 0)
        return loc

    def mkdir_p(self, path: str, mode: int = 0o755) -> None:
        """`mkdir -p`. Without `.`/`..` components: each prefix is one (cached) lookup below the one before,
        and the rest is created below the deepest that exists."""
        parts = [p for p in path.split("/") if p]
        if "." in parts or ".." in parts:
            return self._mkdir_each(parts, mode)
        try:   # the whole path first: a node's `mkdir -p` mostly names a directory that is already there
            found = self.walk("/" + "/".join(parts))
            if st.S_ISDIR(found.fs.mode_of(found.ino)):
                return
        except FsError:
            pass
        loc = self.root()
        prefix = ""
        for i, name in enumerate(parts):
            prefix += "/" + name
            try:
                found = self.walk(prefix)
            except FsError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                for missing in parts[i:]:
                    loc = Location(loc.fs, loc.fs.mkdir(loc.ino, missing, mode))
                return
            if not found.fs.getattr(found.ino).is_dir:
                # GNU mkdir -p names the component it could not make a directory of
                raise FsError(errno.EEXIST if i == len(parts) - 1 else errno.ENOTDIR, detail=prefix)
            loc = found

    def _mkdir_each(self, parts: list[str], mode: int) -> None:
        cur = ""
        for part in parts:
            cur += "/" + part
            try:
                loc = self.walk(cur)
                if not loc.fs.getattr(loc.ino).is_dir:
                    raise FsError(errno.ENOTDIR if cur != "/" + "/".join(parts) else errno.EEXIST, detail=cur)
            except FsError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                parent, name = self.parent(cur)
                parent.fs.mkdir(parent.ino, name, mode)
