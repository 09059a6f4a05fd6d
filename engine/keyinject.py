"""SSH key injection into a guest filesystem, resolving every path inside the guest root.

The NC mounts the keyed work copy and writes /root/.ssh/authorized_keys. A hostile image can make
`root`, `.ssh` or `authorized_keys` a symlink to /etc on the *host*; we resolve each component ourselves,
treating absolute links as relative to the guest root (openat2 RESOLVE_IN_ROOT semantics), so every
command we issue names a path with no symlink in it below the mount point.
"""
from __future__ import annotations

from collections import deque

from . import diskutil
from .nodeio import NodeIO

MAX_HOPS = 40


class KeyInjectionError(Exception):
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
