"""GNU cp: plain copies, and `-a`/`-R`/`-p`/`-d` trees with ownership, modes, times, symlinks, device nodes,
FIFOs and hard links, the way `image resize` copies a root filesystem (coreutils 9.1's messages; 8.4's quoting
on el6).

Holes stay holes: a file's data ranges are copied and the size set after, as `--sparse=auto` does with
SEEK_DATA. A directory's entries are copied in inode order, as cp's savedir(SAVEDIR_SORT_FASTREAD) does on
ext2/3, so the new filesystem hands out inodes in the order the real cp asks for them. An error on one entry is
reported and the copy goes on with the next; the exit status is 1 if anything failed."""
from __future__ import annotations

import stat as st

from simulator.fs.base import FsError
from simulator.vfs import Location

from .base import Abort, Result, tool
from .endpoint import copy_range, open_endpoint

_FLAGS = "fpadrRPL"


def _quote(node, path: str) -> str:
    return f"`{path}'" if node.dialect.coreutils.startswith("8") else f"'{path}'"


def _options(argv: list[str]) -> tuple[set[str], list[str]]:
    flags, rest = set(), []
    for a in argv[1:]:
        if a.startswith("--") and a != "--" and not rest:
            name, _, value = a.partition("=")
            if name == "--sparse" and value in ("always", "auto", "never"):
                continue
            if name == "--reflink" and value in ("", "always", "auto", "never"):
                if value == "always":   # no filesystem of the simulator shares extents
                    flags.add("reflink-always")
                continue
            if name in ("--sparse", "--reflink"):
                raise Abort(f"cp: invalid argument '{value}' for '{name}'\n")
            if name == "--archive":
                flags.add("a")
                continue
            if name == "--recursive":
                flags.add("r")
                continue
            raise Abort(f"cp: unrecognized option '{a}'\nTry 'cp --help' for more information.\n")
        elif a.startswith("-") and len(a) > 1 and a != "--" and not rest:
            for ch in a[1:]:
                if ch not in _FLAGS:
                    raise Abort(f"cp: invalid option -- '{ch}'\nTry 'cp --help' for more information.\n")
                flags.add(ch)
        elif a == "--" and not rest:
            continue
        else:
            rest.append(a)
    if "a" in flags:
        flags |= {"r", "p", "d"}
    if "R" in flags:
        flags.add("r")
    return flags, rest


class _Copy:
    def __init__(self, node, flags: set[str]):
        self.node, self.vfs, self.flags = node, node.kernel.vfs, flags
        self.err: list[str] = []
        self.links: dict[tuple[int, int], str] = {}    # (fs, ino) of a source with nlink > 1 -> its first copy
        # -d, and -R without -L, copy symlinks as symlinks (GNU cp's -P), on the command line too
        self.no_deref = bool(flags & {"d", "r"}) and "L" not in flags

    def q(self, path: str) -> str:
        return _quote(self.node, path)

    def fail(self, text: str, exc: FsError) -> None:
        self.err.append(f"cp: {text}: {exc.strerror}\n")

    def one(self, source: str, target: str) -> None:
        vfs, node = self.vfs, self.node
        try:
            loc = vfs.walk(node.abspath(source), not self.no_deref)
            attr = loc.fs.getattr(loc.ino)
        except FsError as exc:
            self.fail(f"cannot stat {self.q(source)}", exc)
            return
        if attr.is_dir:
            if "r" not in self.flags:
                self.err.append(f"cp: omitting directory {self.q(source)}\n" if node.dialect.coreutils.startswith("8")
                                else f"cp: -r not specified; omitting directory {self.q(source)}\n")
                return
            self.directory(source, target, loc, attr)
            return
        if "d" in self.flags and attr.nlink > 1 and not attr.is_dir:
            first = self.links.get((id(loc.fs), loc.ino))
            if first is not None:
                self.hard_link(first, target)
                return
            self.links[(id(loc.fs), loc.ino)] = target
        if attr.is_lnk:
            self.symlink(loc, attr, target)
        elif attr.is_reg or not self.flags & {"r", "d"}:
            self.regular(source, target, attr)
        else:
            self.special(attr, target)

    def _existing(self, target: str):
        try:
            loc = self.vfs.walk(self.node.abspath(target), False)
            return loc, loc.fs.getattr(loc.ino)
        except FsError:
            return None, None

    def directory(self, source: str, target: str, loc, attr) -> None:
        src_full = self.vfs.canonical(self.node.abspath(source))
        try:
            dst_full = self.vfs.canonical(self.node.abspath(target))
        except FsError:
            dst_full = self.node.abspath(target)
        if (dst_full + "/").startswith(src_full.rstrip("/") + "/") and dst_full != src_full:
            self.err.append(f"cp: cannot copy a directory, {self.q(source)}, into itself, {self.q(target)}\n")
            return
        existing, have = self._existing(target)
        if have is not None and not have.is_dir:
            self.err.append(f"cp: cannot overwrite non-directory {self.q(target)} with directory {self.q(source)}\n")
            return
        if have is None:
            try:
                parent, name = self.vfs.parent(self.node.abspath(target))
                ino = parent.fs.mkdir(parent.ino, name, (attr.mode & 0o7777) | 0o700)
                existing = Location(parent.fs, ino)
            except FsError as exc:
                self.fail(f"cannot create directory {self.q(target)}", exc)
                return
        for name, _ino in sorted(loc.fs.readdir(loc.ino), key=lambda entry: entry[1]):
            self.one(f"{source.rstrip('/')}/{name}", f"{target.rstrip('/')}/{name}")
        self.preserve(existing, attr, target)

    def regular(self, source: str, target: str, attr) -> None:
        if "reflink-always" in self.flags:
            self.err.append(f"cp: failed to clone {self.q(target)} from {self.q(source)}: Operation not supported\n")
            return
        try:
            src = open_endpoint(self.node, source)
        except FsError as exc:
            self.fail(f"cannot open {self.q(source)} for reading", exc)
            return
        try:
            dst = open_endpoint(self.node, target, write=True, create=True, mode=attr.mode & 0o7777)
            dst.truncate(0)
        except FsError as exc:
            self.fail(f"cannot create regular file {self.q(target)}", exc)
            return
        size = src.size or 0
        try:
            if src.kind == "file" and dst.kind == "file":
                for start, length in src.data_ranges(0, size):
                    copy_range(src, start, dst, start, length)
                dst.truncate(size)
            else:
                copy_range(src, 0, dst, 0, size)
        except FsError as exc:
            self.fail(f"error writing {self.q(target)}", exc)
            return
        if dst.kind == "file":
            self.preserve(Location(dst.fs, dst.ino), attr, target)

    def symlink(self, loc, attr, target: str) -> None:
        try:
            parent, name = self.vfs.parent(self.node.abspath(target))
            ino = parent.fs.symlink(parent.ino, name, loc.fs.readlink(loc.ino))
        except FsError as exc:
            self.fail(f"cannot create symbolic link {self.q(target)}", exc)
            return
        if "p" in self.flags:
            parent.fs.setattr(ino, uid=attr.uid, gid=attr.gid)

    def special(self, attr, target: str) -> None:
        try:
            parent, name = self.vfs.parent(self.node.abspath(target))
            ino = parent.fs.mknod(parent.ino, name, attr.mode, attr.rdev or (0, 0))
        except FsError as exc:
            kind = "fifo" if st.S_ISFIFO(attr.mode) else "special file"
            self.fail(f"cannot create {kind} {self.q(target)}", exc)
            return
        self.preserve(Location(parent.fs, ino), attr, target)

    def hard_link(self, first: str, target: str) -> None:
        try:
            loc = self.vfs.walk(self.node.abspath(first), False)
            parent, name = self.vfs.parent(self.node.abspath(target))
            parent.fs.link(parent.ino, name, loc.ino)
        except FsError as exc:
            self.fail(f"cannot create hard link {self.q(target)} to {self.q(first)}", exc)

    def preserve(self, loc, attr, target: str) -> None:
        """cp's order: ownership, then mode and times (chown would clear set-id bits set before it)."""
        if "p" not in self.flags:
            return
        try:
            loc.fs.setattr(loc.ino, uid=attr.uid, gid=attr.gid)
            loc.fs.setattr(loc.ino, mode=attr.mode & 0o7777, mtime=attr.mtime)
        except FsError as exc:
            self.fail(f"failed to preserve ownership for {self.q(target)}", exc)


@tool("cp")
def cp(node, argv, stdin):
    flags, paths = _options(argv)
    if not paths:
        raise Abort("cp: missing file operand\nTry 'cp --help' for more information.\n")
    if len(paths) == 1:
        raise Abort(f"cp: missing destination file operand after {_quote(node, paths[0])}\n"
                    "Try 'cp --help' for more information.\n")
    vfs = node.kernel.vfs
    *sources, dest = paths
    dest_is_dir = vfs.exists(node.abspath(dest)) and vfs.stat(node.abspath(dest)).is_dir
    if len(sources) > 1 and not dest_is_dir:
        if vfs.exists(node.abspath(dest)):
            raise Abort(f"cp: target {_quote(node, dest)} is not a directory\n")
        raise Abort(f"cp: target {_quote(node, dest)}: No such file or directory\n")
    copy = _Copy(node, flags)
    for source in sources:
        target = dest
        if dest_is_dir:
            target = dest.rstrip("/") + "/" + (source.rstrip("/").rsplit("/", 1)[-1] or "/")
        copy.one(source, target)
    err = "".join(copy.err)
    return Result(1 if err else 0, "", err)


@tool("mv")
def mv(node, argv, stdin):
    """mv [-f] [-T] SRC DST for files, symlinks and device nodes: a rename within a filesystem (the inode kept),
    a copy and unlink across filesystems. Moving directories is not modelled and says so."""
    flags, paths = _options([argv[0]] + [a for a in argv[1:] if a not in ("-f", "-T")])
    if not paths:
        raise Abort("mv: missing file operand\nTry 'mv --help' for more information.\n")
    if len(paths) == 1:
        raise Abort(f"mv: missing destination file operand after {_quote(node, paths[0])}\n"
                    "Try 'mv --help' for more information.\n")
    if len(paths) > 2:
        raise Abort("mv (simulated): more than one source is not modelled\n")
    vfs = node.kernel.vfs
    source, dest = paths
    try:
        src_parent, src_name = vfs.parent(node.abspath(source))
        ino = src_parent.fs.lookup(src_parent.ino, src_name)
        if ino is None:
            raise FsError(2)
        attr = src_parent.fs.getattr(ino)
    except FsError as exc:
        raise Abort(f"mv: cannot stat {_quote(node, source)}: {exc.strerror}\n") from None
    if attr.is_dir:
        raise Abort("mv (simulated): moving a directory is not modelled\n")
    target = dest
    if "-T" not in argv and vfs.exists(node.abspath(dest)) and vfs.stat(node.abspath(dest)).is_dir:
        target = dest.rstrip("/") + "/" + src_name
    try:
        dst_parent, dst_name = vfs.parent(node.abspath(target))
        if dst_parent.fs is src_parent.fs:
            if dst_parent.fs.lookup(dst_parent.ino, dst_name) is not None:
                dst_parent.fs.unlink(dst_parent.ino, dst_name)
            dst_parent.fs.link(dst_parent.ino, dst_name, ino)
        else:
            copy = _Copy(node, {"p", "d", "r"})
            copy.one(source, target)
            if copy.err:
                return Result(1, "", "".join(copy.err).replace("cp: ", "mv: "))
        src_parent.fs.unlink(src_parent.ino, src_name)
    except FsError as exc:
        raise Abort(f"mv: cannot move {_quote(node, source)} to {_quote(node, target)}: {exc.strerror}\n") from None
    return Result(0)
