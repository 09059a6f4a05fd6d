"""The everyday tools real traces contain: mkdir, cp, rm, cat, chmod, chown, truncate, echo, printf, ls, stat..."""
from __future__ import annotations

import errno
import re
import stat as st
import time

from simulator.fs.base import FsError

from .base import Abort, Result, tool
from .endpoint import open_endpoint


def _split(argv, known: str):
    flags, rest = set(), []
    for a in argv[1:]:
        if a.startswith("-") and len(a) > 1 and not rest and a != "--":
            for ch in a[1:]:
                if ch not in known:
                    raise Abort(f"{argv[0].rsplit('/', 1)[-1]}: invalid option -- '{ch}'\n")
                flags.add(ch)
        elif a == "--" and not rest:
            continue
        else:
            rest.append(a)
    return flags, rest


def _each(paths, action, message: str) -> Result:
    """Apply `action` to every path; each failure adds `message` (with {path} and {error}) to stderr."""
    err = ""
    for path in paths:
        try:
            action(path)
        except FsError as exc:
            err += message.format(path=getattr(exc, "shown", path), error=exc.strerror) + "\n"
    return Result(1 if err else 0, "", err)


@tool("mkdir")
def mkdir(node, argv, stdin):
    flags, paths = _split(argv, "pv")
    if not paths:
        raise Abort("mkdir: missing operand\nTry 'mkdir --help' for more information.\n")
    vfs = node.kernel.vfs

    def make(path: str) -> None:
        if "p" in flags:
            try:
                vfs.mkdir_p(node.abspath(path))
            except FsError as exc:
                if exc.detail:   # the failing component, written as the operand wrote it
                    base = 0 if path.startswith("/") else len([p for p in node.cwd.split("/") if p])
                    ends = [m.end() for m in re.finditer(r"[^/]+", path)]
                    k = len([p for p in exc.detail.split("/") if p]) - base
                    if 0 < k <= len(ends):
                        exc.shown = path[:ends[k - 1]]
                raise
        else:
            parent, name = vfs.parent(node.abspath(path))
            parent.fs.mkdir(parent.ino, name, 0o755)
    return _each(paths, make, "mkdir: cannot create directory '{path}': {error}")


@tool("rmdir")
def rmdir(node, argv, stdin):
    _, paths = _split(argv, "p")
    return remove_dirs(node, paths, "rmdir: failed to remove '{path}': {error}")


def remove_dirs(node, paths: list[str], message: str) -> Result:
    """Each empty directory removed; each failure is `message` with {path} and {error} (busybox words it too)."""
    def remove(path: str) -> None:
        parent, name = node.kernel.vfs.parent(node.abspath(path))
        parent.fs.rmdir(parent.ino, name)
    return _each(paths, remove, message)


@tool("mknod")
def mknod(node, argv, stdin):
    """mknod [-m MODE] NAME TYPE [MAJOR MINOR]: FIFOs (p) and device nodes (b, c, u), mode 0666 less the
    umask (022) unless -m says otherwise."""
    args, mode = argv[1:], 0o644
    if len(args) >= 2 and args[0] == "-m":
        try:
            mode = int(args[1], 8)
        except ValueError:
            raise Abort("mknod: invalid mode\n") from None
        args = args[2:]
    if not args:
        raise Abort("mknod: missing operand\nTry 'mknod --help' for more information.\n")
    if len(args) == 1:
        raise Abort(f"mknod: missing operand after '{args[0]}'\nTry 'mknod --help' for more information.\n")
    name, kind, numbers = args[0], args[1], args[2:]
    types = {"p": st.S_IFIFO, "b": st.S_IFBLK, "c": st.S_IFCHR, "u": st.S_IFCHR}
    if kind not in types:
        raise Abort(f"mknod: invalid device type '{kind}'\nTry 'mknod --help' for more information.\n")
    if kind == "p" and numbers:
        raise Abort("mknod: Fifos do not have major and minor device numbers.\n"
                    "Try 'mknod --help' for more information.\n")
    if kind != "p" and len(numbers) != 2:
        raise Abort(f"mknod: missing operand after '{(args + [''])[len(args) - 1]}'\n"
                    "Special files require major and minor device numbers.\n"
                    "Try 'mknod --help' for more information.\n")
    if kind != "p" and not all(n.isdigit() for n in numbers):
        raise Abort(f"mknod: invalid major device number '{numbers[0]}'\n")
    rdev = (int(numbers[0]), int(numbers[1])) if numbers else (0, 0)
    try:
        parent, base = node.kernel.vfs.parent(node.abspath(name))
        parent.fs.mknod(parent.ino, base, types[kind] | mode, rdev)
    except FsError as exc:
        raise Abort(f"mknod: {name}: {exc.strerror}\n") from None
    return Result(0)


@tool("rm")
def rm(node, argv, stdin):
    flags, paths = _split(argv, "rfRv")
    vfs, err = node.kernel.vfs, ""

    def remove(path: str) -> None:
        attr = vfs.stat(path, follow=False)
        parent, name = vfs.parent(path)
        if attr.is_dir:
            if not flags & {"r", "R"}:
                raise FsError(errno.EISDIR)
            loc = vfs.walk(path)
            for child, _ in loc.fs.readdir(loc.ino):
                remove(path.rstrip("/") + "/" + child)
            parent.fs.rmdir(parent.ino, name)
        else:
            parent.fs.unlink(parent.ino, name)

    for path in paths:
        try:
            remove(node.abspath(path))
        except FsError as exc:
            if exc.errno == errno.ENOENT and "f" in flags:
                continue
            err += f"rm: cannot remove '{path}': {exc.strerror}\n"
    return Result(1 if err else 0, "", err)


@tool("cat")
def cat(node, argv, stdin):
    return cat_files(node, argv, stdin, lambda path, exc: f"cat: {path}: {exc.strerror}\n")


def cat_files(node, argv, stdin, error) -> Result:
    """The files' bytes in order, or stdin without any; `error(path, FsError)` words a file that failed."""
    _, paths = _split(argv, "")
    if not paths:
        return Result(0, stdin or "")
    out, err = [], ""
    for path in paths:
        try:
            ep = open_endpoint(node, path)
            out.append(ep.read(0, ep.size or 0).decode(errors="surrogateescape"))
        except FsError as exc:
            err += error(path, exc)
    return Result(1 if err else 0, "".join(out), err)


@tool("ln")
def ln(node, argv, stdin):
    flags, paths = _split(argv, "sfn")
    if len(paths) != 2:
        raise Abort("ln: missing file operand\n")
    target, name = paths
    vfs = node.kernel.vfs
    try:
        parent, base = vfs.parent(node.abspath(name))
        if "f" in flags and parent.fs.lookup(parent.ino, base) is not None:
            parent.fs.unlink(parent.ino, base)
        if "s" in flags:
            parent.fs.symlink(parent.ino, base, target)
        else:
            loc = vfs.walk(node.abspath(target))
            parent.fs.link(parent.ino, base, loc.ino)
    except FsError as exc:
        kind = "symbolic " if "s" in flags else "hard "
        raise Abort(f"ln: failed to create {kind}link '{name}': {exc.strerror}\n") from None
    return Result(0)


@tool("chmod")
def chmod(node, argv, stdin):
    _, rest = _split(argv, "R")
    if len(rest) < 2:
        raise Abort("chmod: missing operand\n")
    mode_text, paths = rest[0], rest[1:]
    try:
        mode = int(mode_text, 8)
    except ValueError:
        raise Abort(f"chmod: invalid mode: '{mode_text}'\n") from None

    def change(path: str) -> None:
        loc = node.kernel.vfs.walk(node.abspath(path))
        loc.fs.setattr(loc.ino, mode=mode)
    return _each(paths, change, "chmod: cannot access '{path}': {error}")


_USERS = {"root": 0, "eucalyptus": 500, "nobody": 65534}
_GROUPS = {"root": 0, "eucalyptus": 500, "disk": 6, "kvm": 36, "nogroup": 65534}


@tool("chown")
def chown(node, argv, stdin):
    _, rest = _split(argv, "Rh")
    if len(rest) < 2:
        raise Abort("chown: missing operand\n")
    spec, paths = rest[0], rest[1:]
    user, _, group = spec.partition(":")
    try:
        uid = None if not user else (int(user) if user.isdigit() else _USERS[user])
    except KeyError:
        raise Abort(f"chown: invalid user: '{spec}'\n") from None
    try:
        gid = None if not group else (int(group) if group.isdigit() else _GROUPS[group])
    except KeyError:
        raise Abort(f"chown: invalid group: '{spec}'\n") from None

    def change(path: str) -> None:
        loc = node.kernel.vfs.walk(node.abspath(path))
        loc.fs.setattr(loc.ino, uid=uid, gid=gid)
    return _each(paths, change, "chown: cannot access '{path}': {error}")


@tool("truncate")
def truncate(node, argv, stdin):
    args = argv[1:]
    size = None
    paths = []
    i = 0
    while i < len(args):
        if args[i] == "-s" and i + 1 < len(args):
            size = args[i + 1]
            i += 2
            continue
        if args[i].startswith("--size="):
            size = args[i][7:]
        elif args[i].startswith("-s"):
            size = args[i][2:]
        else:
            paths.append(args[i])
        i += 1
    if size is None:
        raise Abort("truncate: you must specify either '--size' or '--reference'\n"
                    "Try 'truncate --help' for more information.\n")
    from .dd import parse_number
    try:
        nbytes = parse_number(size.replace("K", "KiB").replace("M", "MiB").replace("G", "GiB")
                              .replace("iBiB", "iB"), "size") if not size.isdigit() else int(size)
    except Abort:
        raise Abort(f"truncate: Invalid number: '{size}'\n") from None
    return _each(paths, lambda path: open_endpoint(node, path, write=True, create=True).truncate(nbytes),
                 "truncate: cannot open '{path}' for writing: {error}")


@tool("touch")
def touch(node, argv, stdin):
    _, paths = _split(argv, "c")
    for path in paths:
        try:
            open_endpoint(node, path, write=True, create=True)
        except FsError as exc:
            raise Abort(f"touch: cannot touch '{path}': {exc.strerror}\n") from None
    return Result(0)


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "r": "\r", "v": "\v", "f": "\f", "e": "\x1b"}


def _escapes(text: str) -> str:
    out, i, n = [], 0, len(text)
    while True:
        j = text.find("\\", i)   # the text between escapes is copied whole
        if j < 0 or j + 1 >= n:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        nxt = text[j + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i = j + 2
        elif nxt == "c":
            return "".join(out)
        elif nxt == "0":
            k = j + 2
            while k < n and k < j + 5 and text[k] in "01234567":
                k += 1
            value = int(text[j + 2:k] or "0", 8) & 0xFF
            out.append(chr(0xDC00 + value) if value >= 0x80 else chr(value))   # a raw byte, as printf emits
            i = k
        else:
            out.append("\\")
            i = j + 1


@tool("echo")
def echo(node, argv, stdin):
    args = argv[1:]
    newline, escapes = True, False
    while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
        newline = newline and "n" not in args[0]
        escapes = "e" in args[0] or (escapes and args[0] != "-E")
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = _escapes(text)
    return Result(0, text + ("\n" if newline else ""))


@tool("printf")
def printf(node, argv, stdin):
    if len(argv) < 2:
        raise Abort("printf: missing operand\n")
    fmt, args = argv[1], list(argv[2:])
    out = []
    while True:
        text, i = "", 0
        f = _escapes(fmt)
        while i < len(f):
            if f[i] == "%" and i + 1 < len(f):
                spec = f[i + 1]
                if spec == "%":
                    text += "%"
                elif spec in "sdb":
                    value = args.pop(0) if args else ""
                    text += _escapes(value) if spec == "b" else value
                i += 2
                continue
            text += f[i]
            i += 1
        out.append(text)
        if not args or "%" not in fmt:
            break
    return Result(0, "".join(out))


def _mode_string(mode: int) -> str:
    """ls's ten characters: the kind (d l b c p s -), then rwx with set-id (s/S) and sticky (t/T) bits."""
    return st.filemode(mode)


@tool("ls")
def ls(node, argv, stdin):
    flags, paths = _split(argv, "la1dA")
    vfs = node.kernel.vfs
    paths = paths or ["."]
    out, err = [], ""
    for path in paths:
        full = node.abspath(path)
        try:
            attr = vfs.stat(full)
        except FsError as exc:
            err += f"ls: cannot access '{path}': {exc.strerror}\n"
            continue
        if attr.is_dir and "d" not in flags:
            loc = vfs.walk(full)
            entries = [(n, vfs.stat(full.rstrip("/") + "/" + n, follow=False)) for n, _ in loc.fs.readdir(loc.ino)
                       if not n.startswith(".") or flags & {"a", "A"}]
        else:
            entries = [(path, vfs.stat(full, follow=False))]
        if "l" in flags:
            if attr.is_dir and "d" not in flags:
                out.append(f"total {sum(e.blocks for _, e in entries) // 2}\n")
            out.extend(_long_listing(vfs, full, attr.is_dir and "d" not in flags, entries))
        else:
            out.extend(n + "\n" for n, _ in entries)
    return Result(2 if err else 0, "".join(out), err)


def _long_listing(vfs, full: str, listing_dir: bool, entries) -> list[str]:
    """GNU ls -l: columns right/left aligned across the listing, devices as 'major, minor'."""
    devs = [e.rdev for _, e in entries if e.rdev and (e.is_blk or st.S_ISCHR(e.mode))]
    major_w = max((len(str(r[0])) for r in devs), default=0)
    minor_w = max((len(str(r[1])) for r in devs), default=0)
    rows = []
    for name, e in entries:
        if e.rdev and (e.is_blk or st.S_ISCHR(e.mode)):
            size = f"{e.rdev[0]:>{major_w}}, {e.rdev[1]:>{minor_w}}"
        else:
            size = str(e.size)
        target = ""
        if e.is_lnk:
            loc = vfs.walk(full.rstrip("/") + "/" + name if listing_dir else full, follow=False)
            target = " -> " + loc.fs.readlink(loc.ino)
        when = time.strftime("%b %d %H:%M", time.gmtime(e.mtime))
        rows.append((_mode_string(e.mode), str(e.nlink), _user(e.uid), _group(e.gid), size, when, name + target))
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(5)]
    return [f"{r[0]} {r[1]:>{widths[1]}} {r[2]:<{widths[2]}} {r[3]:<{widths[3]}} {r[4]:>{widths[4]}} {r[5]} {r[6]}\n"
            for r in rows]


def _user(uid: int) -> str:
    return next((n for n, u in _USERS.items() if u == uid), str(uid))


def _group(gid: int) -> str:
    return next((n for n, g in _GROUPS.items() if g == gid), str(gid))


@tool("stat")
def stat_(node, argv, stdin):
    fmt = None
    paths = []
    args = argv[1:]
    i = 0
    while i < len(args):
        if args[i] in ("-c", "--format") and i + 1 < len(args):
            fmt = args[i + 1]
            i += 2
            continue
        paths.append(args[i])
        i += 1
    out, err = "", ""
    for path in paths:
        try:
            e = node.kernel.vfs.stat(node.abspath(path), follow=False)
        except FsError as exc:
            err += f"stat: cannot statx '{path}': {exc.strerror}\n"
            continue
        if fmt:
            repl = {"%s": str(e.size), "%a": f"{e.mode & 0o7777:o}", "%u": str(e.uid), "%g": str(e.gid),
                    "%i": str(e.ino), "%d": str(e.dev), "%n": path, "%F": _kind(e), "%f": f"{e.mode:x}",
                    "%A": _mode_string(e.mode),
                    "%h": str(e.nlink), "%b": str(e.blocks), "%U": _user(e.uid), "%G": _group(e.gid),
                    "%.9Y": f"{e.mtime:.9f}", "%Y": str(int(e.mtime)), "%X": str(int(e.mtime)),
                    "%t": f"{e.rdev[0]:x}" if e.rdev else "0",
                    "%T": f"{e.rdev[1]:x}" if e.rdev else "0"}
            line = fmt
            for k, v in repl.items():
                line = line.replace(k, v)
            out += line + "\n"
        else:
            out += (f"  File: {path}\n  Size: {e.size}\tBlocks: {e.blocks}\t{_kind(e)}\n"
                    f"Access: ({e.mode & 0o7777:04o}/{_mode_string(e.mode)})  Uid: {e.uid}  Gid: {e.gid}\n")
    return Result(1 if err else 0, out, err)


def _kind(e) -> str:
    if e.is_dir:
        return "directory"
    if e.is_lnk:
        return "symbolic link"
    if e.is_blk:
        return "block special file"
    if st.S_ISCHR(e.mode):
        return "character special file"
    if st.S_ISFIFO(e.mode):
        return "fifo"
    return "regular file" if e.size else "regular empty file"


@tool("sort")
def sort(node, argv, stdin):
    lines = (stdin or "").splitlines()
    locale = node.env.get("LC_ALL") or node.env.get("LANG") or "C"
    if locale.startswith("en_US"):
        # glibc en_US collation: punctuation ignored and case folded first, then ties broken.
        key = lambda s: ("".join(ch for ch in s.lower() if ch.isalnum()), s.swapcase())  # noqa: E731
        lines.sort(key=key)
    else:
        lines.sort(key=lambda s: s.encode(errors="surrogateescape"))
    return Result(0, "".join(line + "\n" for line in lines))


@tool("true", ":", "udevadm", "modprobe")
def noop(node, argv, stdin):
    return Result(0)


@tool("sync")
def sync(node, argv, stdin):
    """sync(2): every mounted filesystem writes back what it holds (ext3: a journal commit)."""
    for mount in list(node.kernel.vfs.mounts):
        mount.fs.sync()
    return Result(0)


@tool("false")
def false(node, argv, stdin):
    return Result(1)


@tool("sleep")
def sleep(node, argv, stdin):
    try:
        node.clock.advance(float(argv[1]))
    except (IndexError, ValueError):
        raise Abort("sleep: missing operand\n") from None
    return Result(0)
