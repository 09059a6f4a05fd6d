"""File tools a program uses for plain file I/O over the host interface: tee, find, readlink, test."""
from __future__ import annotations

import errno
import fnmatch
import stat as st

from simulator.fs.base import FsError

from .base import Abort, Result, tool
from .endpoint import open_endpoint


@tool("tee")
def tee(node, argv, stdin):
    args = argv[1:]
    append = False
    while args and args[0].startswith("-") and args[0] != "-":
        if args[0] in ("-a", "--append"):
            append = True
        else:
            raise Abort(f"tee: invalid option -- '{args[0].lstrip('-')[:1]}'\n")
        args = args[1:]
    data = (stdin or "").encode(errors="surrogateescape")
    err = ""
    for path in args:
        try:
            ep = open_endpoint(node, path, write=True, create=True)
            if append:
                ep.write(ep.size or 0, data)
            else:
                ep.truncate(0)
                ep.write(0, data)
        except FsError as exc:
            err += f"tee: {path}: {exc.strerror}\n"
    return Result(1 if err else 0, stdin or "", err)


@tool("readlink")
def readlink(node, argv, stdin):
    """`readlink [-f|-e] PATH...`: the link's text, or with -f/-e the canonical path (-e: every component
    must exist; -f: all but the last)."""
    flags = {a for a in argv[1:] if a.startswith("-") and a != "-"}
    paths = [a for a in argv[1:] if not a.startswith("-") or a == "-"]
    if not paths:
        raise Abort("readlink: missing operand\nTry 'readlink --help' for more information.\n")
    canonicalize = "-f" in flags or "-e" in flags
    vfs = node.kernel.vfs
    out, rc = "", 0
    for path in paths:
        full = node.abspath(path)
        try:
            if not canonicalize:
                loc = vfs.walk(full, follow=False)
                out += loc.fs.readlink(loc.ino) + "\n"
                continue
            try:
                out += vfs.canonical(full) + "\n"
            except FsError as exc:
                if exc.errno != errno.ENOENT or "-e" in flags:
                    raise
                out += _canonical_missing(vfs, full) + "\n"
        except FsError:
            rc = 1
    return Result(rc, out, "")


def _canonical_missing(vfs, full: str) -> str:
    """-f on a path whose last component (or a link's target) does not exist: the parent must."""
    try:
        loc = vfs.walk(full, follow=False)
    except FsError:
        loc = None
    if loc is not None and st.S_ISLNK(loc.fs.mode_of(loc.ino)):
        target = loc.fs.readlink(loc.ino)
        head = full.rstrip("/").rpartition("/")[0] or "/"
        full = target if target.startswith("/") else head.rstrip("/") + "/" + target
        try:
            return vfs.canonical(full)
        except FsError as exc:
            if exc.errno != errno.ENOENT:
                raise
    head, _, name = full.rstrip("/").rpartition("/")
    if name in ("", ".", ".."):
        raise FsError(errno.ENOENT)
    parent = vfs.canonical(head or "/")
    if not vfs.stat(parent).is_dir:
        raise FsError(errno.ENOTDIR)
    return parent.rstrip("/") + "/" + name


@tool("find")
def find(node, argv, stdin):
    """`find ROOT... [-maxdepth N] [-type f|d|l] [-name GLOB] [-printf FMT] [-exec CMD {} ;]`: paths in
    directory order, depth first, like GNU find; the actions run per matching path, left to right (-print
    when there is none). -printf knows %p %f %s %% and \\n \\0 \\t \\\\."""
    args = argv[1:]
    roots = []
    while args and not args[0].startswith("-"):
        roots.append(args.pop(0))
    kind = name = None
    maxdepth = None
    actions: list[tuple[str, object]] = []
    while args:
        opt = args.pop(0)
        if opt in ("-type", "-name", "-maxdepth", "-printf", "-exec") and not args:
            raise Abort(f"find: missing argument to `{opt}'\n")
        if opt == "-type":
            kind = args.pop(0)
        elif opt == "-name":
            name = args.pop(0)
        elif opt == "-maxdepth":
            value = args.pop(0)
            if not value.isdigit():
                raise Abort(f"find: Expected a positive decimal integer argument to -maxdepth, but got '{value}'\n")
            maxdepth = int(value)
        elif opt == "-printf":
            actions.append(("printf", args.pop(0)))
        elif opt == "-exec":
            if ";" not in args:
                raise Abort("find: missing argument to `-exec'\n")
            end = args.index(";")
            actions.append(("exec", args[:end]))
            args = args[end + 1:]
        else:
            raise Abort(f"find: unknown predicate `{opt}'\n")
    vfs = node.kernel.vfs
    out: list[str] = []
    err = ""

    def matches(path: str, attr) -> bool:
        if kind == "f" and not attr.is_reg or kind == "d" and not attr.is_dir or kind == "l" and not attr.is_lnk:
            return False
        return name is None or fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], name)

    def act(path: str, attr) -> None:
        nonlocal err
        if not actions:
            out.append(path + "\n")
        for action, value in actions:
            if action == "printf":
                out.append(_find_printf(value, path, attr))
            else:
                result = node.run([path if word == "{}" else word for word in value])
                out.append(result.stdout)
                err += result.stderr
                if result.rc != 0:   # -exec is also a test: what follows it runs only if the command succeeded
                    return

    def visit(path: str, loc, depth: int) -> None:
        attr = loc.fs.getattr(loc.ino)
        if matches(path, attr):
            act(path, attr)
        if attr.is_dir and (maxdepth is None or depth < maxdepth):
            for child, _ in loc.fs.readdir(loc.ino):   # lookup_child steps into mounted filesystems
                if child not in (".", ".."):
                    visit(path.rstrip("/") + "/" + child, vfs.lookup_child(loc, child), depth + 1)

    failed = False
    for root in roots or ["."]:
        try:
            loc = vfs.walk(node.abspath(root), follow=False)
        except FsError as exc:
            err += f"find: '{root}': {exc.strerror}\n"
            failed = True
            continue
        visit(root, loc, 0)
    return Result(1 if failed else 0, "".join(out), err)


def _find_printf(fmt: str, path: str, attr) -> str:
    out, i = [], 0
    while i < len(fmt):
        c = fmt[i]
        nxt = fmt[i + 1] if i + 1 < len(fmt) else ""
        if c == "%" and nxt in ("p", "f", "s", "%"):
            out.append({"p": path, "f": path.rstrip("/").rsplit("/", 1)[-1] or "/", "s": str(attr.size),
                        "%": "%"}[nxt])
            i += 2
        elif c == "\\" and nxt in ("n", "0", "t", "\\"):
            out.append({"n": "\n", "0": "\0", "t": "\t", "\\": "\\"}[nxt])
            i += 2
        elif c == "%" and nxt:
            raise Abort(f"find (simulated): -printf directive '%{nxt}' is not modelled\n")
        else:
            out.append(c)
            i += 1
    return "".join(out)


@tool("test", "[")
def test(node, argv, stdin):
    """The file tests a program needs: -e -f -d -b -L -s."""
    args = argv[1:]
    if argv[0].endswith("[") and args[-1:] == ["]"]:
        args = args[:-1]
    if len(args) != 2 or args[0] not in ("-e", "-f", "-d", "-b", "-L", "-h", "-s"):
        return Result(2, "", f"test: unsupported expression: {' '.join(args)}\n")
    op, path = args
    try:
        attr = node.kernel.vfs.stat(node.abspath(path), follow=op not in ("-L", "-h"))
    except FsError:
        return Result(1)
    ok = {"-e": True, "-f": attr.is_reg, "-d": attr.is_dir, "-b": attr.is_blk, "-L": attr.is_lnk,
          "-h": attr.is_lnk, "-s": attr.size > 0}[op]
    return Result(0 if ok else 1)


@tool("cmp")
def cmp(node, argv, stdin):
    """GNU diffutils 3.8's cmp of two files, without options (texts measured on the UML node)."""
    paths = argv[1:]
    if len(paths) != 2 or any(p.startswith("-") and p != "-" for p in paths):
        raise Abort("cmp: the simulator models cmp FILE1 FILE2 only\n", rc=2)
    data = []
    for path in paths:
        try:
            ep = open_endpoint(node, path)
            data.append(ep.read(0, ep.size or 0))
        except FsError as exc:
            raise Abort(f"cmp: {path}: {exc.strerror}\n", rc=2) from None
    a, b = data
    common = min(len(a), len(b))
    step = 1 << 16          # images are tens of MiB: compare blocks, look inside only the first that differs
    for start in range(0, common, step):
        end = min(start + step, common)
        if a[start:end] != b[start:end]:
            i = next(i for i in range(start, end) if a[i] != b[i])
            return Result(1, f"{paths[0]} {paths[1]} differ: byte {i + 1}, line {a.count(10, 0, i) + 1}\n")
    if len(a) == len(b):
        return Result(0)
    short = paths[0] if len(a) < len(b) else paths[1]
    if common == 0:
        return Result(1, "", f"cmp: EOF on {short} which is empty\n")
    prefix = a[:common]
    line = prefix.count(10) + (0 if prefix.endswith(b"\n") else 1)
    return Result(1, "", f"cmp: EOF on {short} after byte {common}, line {line}\n")


@tool("install")
def install(node, argv, stdin):
    """`install [-m MODE] SRC DEST`: a copy with the given mode (0755 by default). An existing file is
    rewritten in place, keeping its inode, as GNU install does; DEST may be a directory. SRC /dev/stdin or
    /proc/self/fd/0 is the command's stdin: the one-command way to write a file with its mode."""
    args = argv[1:]
    mode = 0o755
    paths = []
    while args:
        a = args.pop(0)
        if a == "-m" and args:
            text = args.pop(0)
            if not text or any(c not in "01234567" for c in text) or int(text, 8) > 0o7777:
                raise Abort(f"install: invalid mode '{text}'\n")
            mode = int(text, 8)
        elif a.startswith("-") and a != "-":
            raise Abort(f"install (simulated): option '{a}' is not modelled\n")
        else:
            paths.append(a)
    if len(paths) != 2:
        raise Abort("install (simulated): only `install [-m MODE] SRC DEST` is modelled\n")
    src, dest = paths
    vfs = node.kernel.vfs
    if src in ("/dev/stdin", "/proc/self/fd/0"):
        data = (stdin or "").encode("utf-8", "surrogateescape")
    else:
        try:
            data = vfs.read_file(node.abspath(src))
        except FsError as exc:
            raise Abort(f"install: cannot stat '{src}': {exc.strerror}\n") from None
    target = node.abspath(dest)
    try:
        if vfs.stat(target).is_dir:
            target = target.rstrip("/") + "/" + src.rstrip("/").rsplit("/", 1)[-1]
    except FsError:
        pass
    try:
        loc = vfs.write_file(target, data, mode=mode)
    except FsError as exc:
        raise Abort(f"install: cannot create regular file '{dest}': {exc.strerror}\n") from None
    loc.fs.setattr(loc.ino, mode=mode)
    return Result(0)
