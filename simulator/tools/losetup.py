"""losetup, in util-linux 2.38 (debian12) and 2.17 (el6) flavours."""
from __future__ import annotations

import errno
import os
import re

from simulator.fs.base import FsError
from simulator.loop import LoopDevice

from .base import Abort, Result, tool

LO_NAME_SIZE = 64


def status_line(node, dev: LoopDevice) -> str:
    """One `losetup -a` line. Its parts are built once per binding and format: a full node lists thousands."""
    fmt = node.dialect.losetup_format
    parts = dev.listing.get(fmt)
    if parts is None:
        parts = dev.listing[fmt] = _status_parts(fmt, dev)
    if fmt != "old" and dev.deleted:
        # the kernel's backing_file path gains " (deleted)" once the file is unlinked
        return parts[0] + " (deleted)" + parts[1]
    return parts[0] + parts[1]


def _status_parts(fmt: str, dev: LoopDevice) -> tuple[str, str]:
    """The line up to the end of the file name, and the rest."""
    if fmt == "old":
        name = dev.file_name
        # 2.17 prints lo_file_name with its last kept byte replaced by '*' when the path was cut.
        if len(name.encode()) >= LO_NAME_SIZE - 1:
            name = name.encode()[:LO_NAME_SIZE - 2].decode(errors="ignore") + "*"
        head = f"{dev.devnode}: [{dev.st_dev:04x}]:{dev.ino} ({name}"
    else:
        head = f"{dev.devnode}: [{dev.st_dev:04d}]:{dev.ino} ({dev.file_name}"
    tail = ")"
    if dev.offset:
        tail += f", offset {dev.offset}"
    if dev.sizelimit:
        tail += f", sizelimit {dev.sizelimit}"
    return head, tail


def listed(node) -> list[LoopDevice]:
    """Bound devices in the order this dialect's losetup lists them."""
    return node.kernel.loop.bound(node.dialect.loop_order)


def _parse_size(text: str, opt: str, new_texts: bool = True) -> int:
    units = {"": 1, "K": 1024, "KiB": 1024, "M": 1 << 20, "MiB": 1 << 20, "G": 1 << 30, "GiB": 1 << 30,
             "KB": 1000, "MB": 10**6, "GB": 10**9}
    num = text.rstrip("KMGiB")
    unit = text[len(num):]
    if not num.isdigit() or unit not in units:
        if new_texts:      # util-linux 2.38's strtosize_or_err (measured on the UML node)
            raise Abort(f"losetup: failed to parse {opt}: '{text}': Invalid argument\n")
        raise Abort(f"losetup: invalid {opt} argument: '{text}'\n")
    return int(num) * units[unit]


def _loop_at(node, path: str) -> LoopDevice:
    dev = node.kernel.device_at(path)
    if not isinstance(dev, LoopDevice):
        raise FsError(errno.ENXIO)
    return dev


def _created(node, path: str) -> str:
    """util-linux 2.38 asks loop-control for a /dev/loopN that does not exist yet (LOOP_CTL_ADD), as the real
    node showed: `losetup /dev/loop20 FILE` works with only loop0-7 present. 2.17 does not."""
    m = re.fullmatch(r"/dev/loop(\d+)", node.abspath(path))
    if m and not node.kernel.vfs.exists(m.group(0)):
        node.kernel.loop.add(int(m.group(1)))
    return path


def attach(node, dev: LoopDevice, file_path: str, offset: int, sizelimit: int, read_only: bool) -> None:
    kernel = node.kernel
    loc = kernel.vfs.walk(file_path)
    attr = loc.fs.getattr(loc.ino)
    if dev.bound:
        raise FsError(errno.EBUSY)
    canonical = kernel.vfs.canonical(file_path, node.cwd)
    backing_dev = None
    if attr.is_blk:
        backing_dev = kernel.device(attr.rdev)
        if backing_dev is None:
            raise FsError(errno.ENXIO)
        size = backing_dev.size
    elif attr.is_reg:
        size = attr.size
    else:
        raise FsError(errno.EINVAL)
    kernel.loop.bind(dev, loc.fs, loc.ino, canonical, attr.dev, size, offset, sizelimit, read_only, backing_dev)
    if backing_dev is not None:
        backing_dev.hold(dev.devnode)
    elif hasattr(loc.fs, "pin"):
        dev.inode = loc.fs.pin(loc.ino)


@tool("losetup")
def losetup(node, argv, stdin):
    old = node.dialect.losetup_format == "old"
    args = argv[1:]
    opts = {"offset": 0, "sizelimit": 0, "find": False, "show": False, "all": False, "detach": False,
            "detach_all": False, "assoc": None, "read_only": False}
    positional = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-o", "--offset") or a in ("--sizelimit",) or a in ("-j", "--associated"):
            if i + 1 >= len(args):
                raise Abort(f"losetup: option requires an argument -- '{a.lstrip('-')[:1]}'\n"
                            f"Try 'losetup --help' for more information.\n")
            value = args[i + 1]
            if a in ("-o", "--offset"):
                opts["offset"] = _parse_size(value, "offset", not old)
            elif a == "--sizelimit":
                opts["sizelimit"] = _parse_size(value, "size", not old)
            else:
                opts["assoc"] = value
            i += 2
            continue
        if a.startswith("-o") and len(a) > 2:
            opts["offset"] = _parse_size(a[2:], "offset", not old)
        elif a in ("-f", "--find"):
            opts["find"] = True
        elif a == "--show":
            opts["show"] = True
        elif a in ("-a", "--all"):
            opts["all"] = True
        elif a in ("-d", "--detach"):
            opts["detach"] = True
        elif a in ("-D", "--detach-all"):
            opts["detach_all"] = True
        elif a in ("-r", "--read-only"):
            opts["read_only"] = True
        elif a in ("-fs",):
            opts["find"] = opts["show"] = True
        elif a.startswith("-") and a != "-":
            raise Abort(f"losetup: invalid option -- '{a.lstrip('-')[:1]}'\n"
                        f"Try 'losetup --help' for more information.\n")
        else:
            positional.append(a)
        i += 1

    kernel = node.kernel
    if opts["all"]:
        # a line changes when its device is bound or detached, or (" (deleted)") when a name goes away
        return Result(0, kernel.loop.listing(node.dialect.loop_order, node.dialect.losetup_format,
                                             lambda d: status_line(node, d) + "\n",
                                             getattr(kernel.rootfs, "generation", None)))
    if opts["assoc"] is not None:
        try:
            loc = kernel.vfs.walk(opts["assoc"])
        except FsError as exc:
            raise Abort(f"losetup: {opts['assoc']}: failed to use backing file: {exc.strerror}\n") from None
        hits = [d for d in listed(node) if d.fs is loc.fs and d.ino == loc.ino]
        return Result(0, "".join(status_line(node, d) + "\n" for d in hits))
    if opts["detach_all"]:
        for dev in kernel.loop.bound():
            _detach(node, dev)
        return Result(0)
    if opts["detach"]:
        if not positional:
            raise Abort("losetup: option requires an argument -- 'd'\nTry 'losetup --help' for more information.\n")
        err = ""
        for path in positional:
            try:
                dev = _loop_at(node, path)
                if not dev.bound:
                    raise FsError(errno.ENXIO)
                _detach(node, dev)
            except FsError as exc:
                if not old and exc.errno == errno.ENOENT:   # util-linux 2.38 (recorded on the real node)
                    err += f"losetup: {path}: failed to use device: {os.strerror(errno.ENODEV)}\n"
                elif old:
                    err += f"ioctl: LOOP_CLR_FD: {exc.strerror}\n"
                else:
                    err += f"losetup: {path}: detach failed: {exc.strerror}\n"
        return Result(1 if err else 0, "", err)
    if opts["find"]:
        if not positional:
            dev = _find_free(node)
            return Result(0, dev.devnode + "\n")
        file_path = positional[0]
        dev = _find_free(node)
        warning = _attach_or_abort(node, dev, file_path, opts)
        return Result(0, dev.devnode + "\n" if opts["show"] else "", warning)
    if len(positional) == 1:
        path = positional[0]
        try:
            dev = _loop_at(node, path)
            if not dev.bound:
                raise FsError(errno.ENXIO)
        except FsError as exc:
            if old:
                raise Abort(f"loop: can't get info on device {path}: {exc.strerror}\n") from None
            raise Abort(f"losetup: {path}: {exc.strerror}\n") from None
        return Result(0, status_line(node, dev) + "\n")
    if len(positional) == 2:
        path, file_path = positional
        try:
            dev = _loop_at(node, _created(node, path) if not old else path)
        except FsError as exc:
            if old:
                raise Abort(f"{path}: {exc.strerror}\n") from None
            raise Abort(f"losetup: {path}: failed to set up loop device: {exc.strerror}\n") from None
        return Result(0, "", _attach_or_abort(node, dev, file_path, opts))
    if not positional:
        devs = listed(node)
        if old:
            raise Abort("Usage:\n losetup loop_device                             # give info\n", rc=1)
        header = "NAME       SIZELIMIT OFFSET AUTOCLEAR RO BACK-FILE DIO LOG-SEC\n"
        rows = "".join(f"{d.devnode:<10} {d.sizelimit:>9} {d.offset:>6} {int(d.autoclear):>9} "
                       f"{int(d.read_only):>2} {d.file_name} {0:>3} {512:>7}\n" for d in devs)
        return Result(0, header + rows if devs else "")
    raise Abort("losetup: unexpected arguments\nTry 'losetup --help' for more information.\n")


def _find_free(node) -> LoopDevice:
    loop = node.kernel.loop
    if node.dialect.losetup_format == "old":
        # old util-linux tries /dev/loop0, 1, ... and cannot make one more
        dev = loop.lowest_unbound()
        if dev is not None:
            return dev
        raise Abort("losetup: could not find any free loop device\n")
    return loop.find_free()


def _attach_or_abort(node, dev: LoopDevice, file_path: str, opts: dict) -> str:
    """Attach; returns the warning util-linux >= 2.2x prints for a regular file whose usable size is not
    whole 512-byte sectors (observed on the real node: see tests/test_tools.py)."""
    old = node.dialect.losetup_format == "old"
    try:
        attach(node, dev, file_path, opts["offset"], opts["sizelimit"], opts["read_only"])
    except FsError as exc:
        if old:
            if exc.errno == errno.EBUSY:
                raise Abort(f"ioctl: LOOP_SET_FD: {exc.strerror}\n") from None
            raise Abort(f"{file_path}: {exc.strerror}\n") from None
        raise Abort(f"losetup: {file_path}: failed to set up loop device: {exc.strerror}\n") from None
    if old:
        return ""
    size = opts["sizelimit"]
    if not size:
        attr = node.kernel.vfs.stat(node.abspath(file_path))
        if attr.is_blk:
            return ""
        size = attr.size - opts["offset"]
    if size < 512:
        return (f"losetup: {file_path}: Warning: file is smaller than 512 bytes; the loop device may be useless "
                "or invisible for system tools.\n")
    if size % 512:
        return (f"losetup: {file_path}: Warning: file does not fit into a 512-byte sector; the end of the file "
                "will be ignored.\n")
    return ""


def _detach(node, dev: LoopDevice) -> None:
    if dev.open_count > 0:
        if not node.dialect.busy_detach_autoclear:
            raise FsError(errno.EBUSY)
        dev.autoclear = True
        return
    node.kernel.loop.detach(dev)

