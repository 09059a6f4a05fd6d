"""mount and umount: the mount table, filesystem detection, busy and missing cases."""
from __future__ import annotations

import errno

from simulator.fs.base import FsError
from simulator.fs.ext2 import ExtFS
from simulator.fs.probe import fs_type
from simulator.vfs import Mount

from .base import Abort, Result, tool

HINT = "       dmesg(1) may have more information after failed mount system call.\n"


def _fail(node, target: str, reason: str) -> Abort:
    if node.dialect.util_linux.startswith("2.17"):
        return Abort(f"mount: {reason}\n", rc=32)
    return Abort(f"mount: {target}: {reason}.\n{HINT}", rc=32)


@tool("mount")
def mount(node, argv, stdin):
    args = argv[1:]
    fstype = None
    options = []
    positional = []
    i = 0
    while i < len(args):
        if args[i] in ("-t", "-o") and i + 1 < len(args):
            if args[i] == "-t":
                fstype = args[i + 1]
            else:
                options.extend(args[i + 1].split(","))
            i += 2
            continue
        if args[i].startswith("-"):
            i += 1
            continue
        positional.append(args[i])
        i += 1
    kernel = node.kernel
    vfs = kernel.vfs
    if not positional:
        lines = "".join(f"{m.source} on {m.target} type {m.fstype} ({m.options})\n" for m in vfs.mounts)
        return Result(0, lines)
    if len(positional) != 2:
        raise Abort("mount: bad usage\nTry 'mount --help' for more information.\n", rc=1)
    source, target = positional
    full_target = node.abspath(target)
    try:
        covered = vfs.walk(full_target)
        if not covered.fs.getattr(covered.ino).is_dir:
            raise FsError(errno.ENOTDIR)
    except FsError:
        raise _fail(node, target, "mount point does not exist" if not node.dialect.util_linux.startswith("2.17")
                    else f"mount point {target} does not exist") from None
    try:
        attr = vfs.stat(source)
    except FsError:
        raise _fail(node, target, f"special device {source} does not exist") from None
    loop_used = None
    if attr.is_reg:
        from .losetup import attach
        loop_used = kernel.loop.find_free()
        attach(node, loop_used, source, 0, 0, "ro" in options)
        loop_used.autoclear = True
        dev = loop_used
    elif attr.is_blk:
        dev = kernel.device(attr.rdev)
        if dev is None:
            raise _fail(node, target, f"special device {source} does not exist")
    else:
        raise _fail(node, target, f"special device {source} does not exist")
    for m in vfs.mounts:
        if m.device_key == dev.key:
            raise _fail(node, target, f"{source} already mounted on {m.target}")
    if any(h.startswith("/dev/mapper/") for h in dev.holders):
        # a device-mapper table claims its devices exclusively, and so does a mount: EBUSY (seen on the UML
        # node mounting an instance's root while its disk maps it)
        if loop_used is not None:
            kernel.loop.detach(loop_used)
        if node.dialect.util_linux.startswith("2.17"):
            raise Abort(f"mount: {source} already mounted or {target} busy\n", rc=32)
        raise _fail(node, target, f"{source} already mounted or mount point busy")
    detected = fs_type(dev)
    wanted = fstype or detected
    try:
        if detected not in ("ext2", "ext3", "ext4") or (fstype and fstype not in ("ext2", "ext3", "ext4", "auto")):
            raise FsError(errno.EINVAL)
        fs = ExtFS(dev, node.clock, read_only="ro" in options or dev.read_only)
    except FsError:
        if loop_used is not None:
            kernel.loop.detach(loop_used)
        raise _fail(node, target, f"wrong fs type, bad option, bad superblock on {source}, "
                    f"missing codepage or helper program, or other error") from None
    fs.dev = (dev.minor & 0xFF) | (dev.major << 8)
    canonical = vfs.canonical(full_target)
    fs.on_mount(canonical)
    dev.hold(canonical)
    opts = "ro" if fs.read_only else "rw"
    vfs.add_mount(Mount(dev.devnode if loop_used else source, canonical, fs, covered,
                        wanted if wanted != "auto" else detected, opts + ",relatime", dev.key))
    node.clock.advance(0.02)
    return Result(0)


@tool("umount")
def umount(node, argv, stdin):
    positional = [a for a in argv[1:] if not a.startswith("-")]
    if not positional:
        raise Abort("umount: bad usage\nTry 'umount --help' for more information.\n", rc=1)
    kernel = node.kernel
    vfs = kernel.vfs
    err = ""
    for target in positional:
        full = node.abspath(target)
        mount = None
        try:
            canonical = vfs.canonical(full)
        except FsError:
            canonical = None
        for m in reversed(vfs.mounts):
            if m.target == canonical or m.source == target or (canonical and m.source == canonical):
                mount = m
                break
        if mount is None:
            if canonical is None:
                err += f"umount: {target}: no mount point specified.\n"
            else:
                err += f"umount: {target}: not mounted.\n"
            continue
        if any(other.target.startswith(mount.target.rstrip("/") + "/") for other in vfs.mounts):
            err += f"umount: {target}: target is busy.\n"
            continue
        mount.fs.on_umount()
        vfs.remove_mount(mount)
        dev = kernel.device(mount.device_key)
        if dev is not None:
            dev.release(mount.target)
            kernel.released(dev)
    return Result(32 if err else 0, "", err)
