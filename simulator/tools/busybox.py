"""BusyBox 1.35 as Debian's busybox-static builds it: `busybox APPLET ARGS...`, and `busybox sh -c SCRIPT [NAME
ARGS...]`, whose commands run busybox's own applets before anything on PATH (the build prefers applets).

Only what the engine's fast path sends is modelled: the applets below and, in simulator/ash.py, the shell's
lists, pipes, redirects, positional parameters and a few builtins. Their texts are busybox's, not coreutils'
(`rm: can't remove 'X': ...`, `ln: X: File exists`), checked against the real binary in tests/test_busybox.py.
An applet runs through `node.run`, as the program it is (`rm -f X`), so faults and crash points that name a
command match it inside a script too.
"""
from __future__ import annotations

import errno
import stat as st

from simulator import ash
from simulator.fs.base import FsError

from .base import Abort, Result, not_found, tool
from .coreutils import _each, cat_files, remove_dirs
from .coreutils import _split as _flags
from .endpoint import open_endpoint

APPLETS: dict = {}
VERSION = "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary."


def applet(*names):
    return tool(*names, table=APPLETS)


@tool("busybox")
def busybox(node, argv, stdin):
    if not node.dialect.busybox:
        return not_found(argv[0])
    if len(argv) < 2:
        return Result(0, f"{VERSION}\n")
    name = argv[1].rsplit("/", 1)[-1]
    if name in ("sh", "ash"):
        return ash.main(node, argv[1:], stdin, APPLETS)
    if name not in APPLETS:
        return Result(1, "", f"{name}: applet not found\n")
    return node.run(argv[1:], stdin, applets=APPLETS)


@applet("rm")
def rm(node, argv, stdin):
    flags, paths = _flags(argv, "f")
    vfs, err = node.kernel.vfs, ""
    for path in paths:
        full = node.abspath(path)
        try:
            attr = vfs.stat(full, follow=False)
        except FsError as exc:
            if not (exc.errno == errno.ENOENT and "f" in flags):
                err += f"rm: can't remove '{path}': {exc.strerror}\n"
            continue
        if attr.is_dir:
            err += f"rm: '{path}' is a directory\n"
            continue
        try:
            parent, name = vfs.parent(full)
            parent.fs.unlink(parent.ino, name)
        except FsError as exc:
            err += f"rm: can't remove '{path}': {exc.strerror}\n"
    return Result(1 if err else 0, "", err)


@applet("ln")
def ln(node, argv, stdin):
    flags, paths = _flags(argv, "sfn")
    if len(paths) != 2:
        raise Abort("ln: missing file operand\n")   # not sent by the engine: a two-operand form only
    target, name = paths
    vfs = node.kernel.vfs
    try:
        parent, base = vfs.parent(node.abspath(name))
        existing = parent.fs.lookup(parent.ino, base)
        if existing is not None and "f" in flags:
            if st.S_ISDIR(parent.fs.mode_of(existing)) and "n" not in flags:
                raise FsError(errno.EISDIR)
            parent.fs.unlink(parent.ino, base)
        if "s" in flags:
            parent.fs.symlink(parent.ino, base, target)
        else:
            parent.fs.link(parent.ino, base, vfs.walk(node.abspath(target)).ino)
    except FsError as exc:
        raise Abort(f"ln: {name}: {exc.strerror}\n") from None
    return Result(0)


@applet("cat")
def cat(node, argv, stdin):
    # busybox opens a directory, then its read fails
    return cat_files(node, argv, stdin, lambda path, exc: "cat: read error: Is a directory\n"
                     if exc.errno == errno.EISDIR else f"cat: can't open '{path}': {exc.strerror}\n")


@applet("stat")
def stat_(node, argv, stdin):
    """`stat -c FMT PATH...` (lstat) with %s %f %Y %n: busybox prints whole seconds for %Y whatever the
    precision asked (`%.9Y` too)."""
    args = argv[1:]
    if len(args) < 3 or args[0] != "-c":
        raise Abort("stat: only -c FORMAT is modelled\n")
    fmt, paths = args[1], args[2:]
    out, err = "", ""
    for path in paths:
        try:
            e = node.kernel.vfs.stat(node.abspath(path), follow=False)
        except FsError as exc:
            err += f"stat: can't stat '{path}': {exc.strerror}\n"
            continue
        line = fmt.replace("%.9Y", "%Y")
        for key, value in (("%s", str(e.size)), ("%f", f"{e.mode:x}"), ("%Y", str(int(e.mtime))), ("%n", path)):
            line = line.replace(key, value)
        out += line + "\n"
    return Result(1 if err else 0, out, err)


@applet("chmod")
def chmod(node, argv, stdin):
    _, rest = _flags(argv, "")
    if len(rest) < 2:
        raise Abort("chmod: missing operand\n")
    try:
        mode = int(rest[0], 8)
    except ValueError:
        raise Abort(f"chmod: invalid mode '{rest[0]}'\n") from None

    return _set_each(node, rest[1:], "chmod", mode=mode)


@applet("chown")
def chown(node, argv, stdin):
    """`chown USER PATH...` (names from the node's passwd, as the coreutils model has them)."""
    from .coreutils import _USERS
    _, rest = _flags(argv, "")
    if len(rest) < 2:
        raise Abort("chown: missing operand\n")
    user = rest[0]
    uid = int(user) if user.isdigit() else _USERS.get(user)
    if uid is None:
        raise Abort(f"chown: unknown user {user}\n")

    return _set_each(node, rest[1:], "chown", uid=uid)


def _set_each(node, paths: list[str], name: str, **attrs) -> Result:
    """chmod and chown: each path's inode changed, each failure `NAME: PATH: error`."""
    def change(path: str) -> None:
        loc = node.kernel.vfs.walk(node.abspath(path))
        loc.fs.setattr(loc.ino, **attrs)
    return _each(paths, change, name + ": {path}: {error}")


@applet("tee")
def tee(node, argv, stdin):
    _, paths = _flags(argv, "")
    data = (stdin or "").encode(errors="surrogateescape")

    def write(path: str) -> None:
        ep = open_endpoint(node, path, write=True, create=True)
        ep.truncate(0)
        ep.write(0, data)
    result = _each(paths, write, "tee: {path}: {error}")
    return Result(result.rc, stdin or "", result.stderr)


@applet("truncate")
def truncate(node, argv, stdin):
    args = argv[1:]
    if len(args) < 3 or args[0] != "-s" or not args[1].isdigit():
        raise Abort("truncate: only -s BYTES is modelled\n")
    size = int(args[1])
    return _each(args[2:], lambda path: open_endpoint(node, path, write=True, create=True).truncate(size),
                 "truncate: {path}: open: {error}")


@applet("mkdir")
def mkdir(node, argv, stdin):
    flags, paths = _flags(argv, "p")
    vfs, err = node.kernel.vfs, ""
    for path in paths:
        full = node.abspath(path)
        parts = [p for p in path.split("/") if p]
        try:
            if "p" not in flags:
                parent, name = vfs.parent(full)
                parent.fs.mkdir(parent.ino, name, 0o755)
                continue
            # busybox makes one component at a time and names the one that failed, with its slash
            prefix = "/" if path.startswith("/") else ""
            for i, part in enumerate(parts):
                prefix += part
                shown = prefix + ("/" if i < len(parts) - 1 else "")
                try:
                    attr = vfs.stat(node.abspath(prefix))
                except FsError as exc:
                    if exc.errno != errno.ENOENT:
                        raise FsError(exc.errno, shown) from None
                    parent, name = vfs.parent(node.abspath(prefix))
                    parent.fs.mkdir(parent.ino, name, 0o755)
                else:
                    if not attr.is_dir:
                        raise FsError(errno.ENOTDIR if i < len(parts) - 1 else errno.EEXIST, shown)
                prefix += "/"
        except FsError as exc:
            shown = exc.detail if "p" in flags and exc.detail else path
            err += f"mkdir: can't create directory '{shown}': {exc.strerror}\n"
    return Result(1 if err else 0, "", err)


@applet("rmdir")
def rmdir(node, argv, stdin):
    _, paths = _flags(argv, "")
    return remove_dirs(node, paths, "rmdir: '{path}': {error}")


@applet("readlink")
def readlink(node, argv, stdin):
    """Without options: the link's text; anything else fails silently with 1."""
    _, paths = _flags(argv, "")
    vfs = node.kernel.vfs
    try:
        loc = vfs.walk(node.abspath(paths[0]), follow=False)
        return Result(0, loc.fs.readlink(loc.ino) + "\n")
    except (FsError, IndexError):
        return Result(1)
