"""SSH key injection into a guest filesystem, resolving every path inside the guest root.

The NC mounts the keyed work copy and writes /root/.ssh/authorized_keys. A hostile image can make
`root`, `.ssh` or `authorized_keys` a symlink to /etc on the *host*; we resolve each component ourselves,
treating absolute links as relative to the guest root (openat2 RESOLVE_IN_ROOT semantics), so every
command we issue names a path with no symlink in it below the mount point.
"""
from __future__ import annotations

from collections import deque

from engine.errors import EngineError

from . import diskutil
from .nodeio import NodeIO

MAX_HOPS = 40


class KeyInjectionError(EngineError):
    pass


def resolve_in_root(io: NodeIO, root: str, rel: str) -> str:
    parts = deque(p for p in rel.split("/") if p)
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.popleft()
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        path = root + "/" + "/".join(resolved + [part])
        target = io.readlink(path) if io.is_link(path) else None
        if target is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > MAX_HOPS:
            raise KeyInjectionError(f"too many levels of symbolic links under {root}/{rel}")
        if target.startswith("/"):
            resolved = []
        parts.extendleft(reversed([p for p in target.split("/") if p]))
    return root + "/" + "/".join(resolved)


def inject_key(io: NodeIO, device: str, key: str, token) -> None:
    """mount, mkdir -p root/.ssh (0700), write the key as is (0600), chown the device back, umount."""
    mnt = f"/tmp/euca-mount-{token(6)}"
    if io.uses_busybox():
        with diskutil.mounted(io, device, mnt):
            _inject_in_one_script(io, device, key, mnt)
        return
    tmp = f"/tmp/euca-temp-{token(6)}"
    with diskutil.mounted(io, device, mnt):
        try:
            ssh_dir = resolve_in_root(io, mnt, "root/.ssh")
            io.cmd(["/bin/mkdir", "-p", ssh_dir])
            diskutil.chown(io, "root", ssh_dir)
            diskutil.chmod(io, 0o700, ssh_dir)
            target = resolve_in_root(io, mnt, "root/.ssh/authorized_keys")
            if io.exists(target) and io.quiet(["test", "-f", target], check=False).rc != 0:
                raise KeyInjectionError(f"{target[len(mnt):]} in the image is not a regular file")
            io.make_sparse(tmp, 0)
            io.quiet(["chmod", "0600", tmp])      # before the key is in it
            io.write(tmp, key)
            io.cmd(["/bin/cp", tmp, target])
            diskutil.chown(io, "root", target)
            diskutil.chmod(io, 0o600, target)
            diskutil.chown(io, "eucalyptus", device)
        finally:
            io.unlink(tmp)


def _inject_in_one_script(io: NodeIO, device: str, key: str, mnt: str) -> None:
    """The fast path where the node has busybox: both paths resolved inside the guest root first, then the
    directory, the key and the owners in one program. Resolving before `mkdir` gives the same paths: while
    `.ssh` is missing nothing below it can be a link, and once it is there `mkdir -p` changes nothing. The key
    goes straight to its file on the script's stdin, never among its arguments, rather than through a copy in
    /tmp (the same bytes, owner and mode; no copy left behind if the engine dies half-way). Unlike NC's order,
    a target that is not a regular file is refused before `.ssh` is given its owner and mode; that launch fails
    and its disk is discarded anyway."""
    ssh_dir = resolve_in_root(io, mnt, "root/.ssh")
    target = resolve_in_root(io, mnt, "root/.ssh/authorized_keys")
    if io.exists(target) and io.quiet(["test", "-f", target], check=False).rc != 0:
        raise KeyInjectionError(f"{target[len(mnt):]} in the image is not a regular file")
    io.script().mkdirs(ssh_dir).chown("root", ssh_dir).chmod(0o700, ssh_dir) \
        .write(target, key, secret=True).chown("root", target).chmod(0o600, target).chown("eucalyptus", device).run()
