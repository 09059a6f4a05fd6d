"""The NC's shell-outs (storage/diskutil.c), issued with the exact paths and argument order of NC 3.3."""
from __future__ import annotations

import re
from contextlib import contextmanager

from .nodeio import CommandError, NodeIO

LOSETUP, DMSETUP, DD = "/sbin/losetup", "/sbin/dmsetup", "/bin/dd"
LOOP_TRIES = 9
NOT_ATTACHED = ": No such device or address"


def loop_attach(io: NodeIO, path: str) -> str:
    """Find a free loop and attach `path` at offset 0; up to 9 tries one second apart (a racing process may win)."""
    last: CommandError | None = None
    for attempt in range(LOOP_TRIES):
        if attempt:
            io.clock.sleep(1)
        if io.fast:
            # find and attach in one command: util-linux retries its own find/attach race, so unlike NC's two
            # commands it needs no loop_sem, and build workers attach side by side
            attached = io.cmd([LOSETUP, "-f", "--show", path], check=False)
            if attached.rc == 0 and attached.stdout.strip():
                return attached.stdout.strip()
            last = CommandError(f"{LOSETUP} -f --show {path}", attached.rc, attached.stderr)
            continue
        with io.workers.hold(io.loop_sem):
            found = io.cmd([LOSETUP, "-f"], check=False)
            dev = found.stdout.strip()
            if found.rc != 0 or not dev:
                last = CommandError(f"{LOSETUP} -f", found.rc, found.stderr)
                continue
            try:
                io.cmd([LOSETUP, "-o", "0", dev, path])
                return dev
            except CommandError as exc:
                last = exc
    assert last is not None
    raise last


def loop_detach(io: NodeIO, dev: str) -> None:
    """Up to 9 tries; an already detached device ('No such device or address') counts as success."""
    last = None
    for attempt in range(LOOP_TRIES):
        if attempt:
            io.clock.sleep(1)
        result = io.cmd([LOSETUP, "-d", dev], check=False)
        if result.rc == 0 or NOT_ATTACHED in result.stderr + result.stdout:
            return
        last = CommandError(f"{LOSETUP} -d {dev}", result.rc, result.stderr)
    raise last


# `/dev/loopN: [dev]:ino (PATH)`, PATH ending ` (deleted)` once the file is gone: the first parenthesis opens it
LOSETUP_LINE = re.compile(r"^(/dev/loop\d+): [^(]*\((.*)\)\s*$")


_UNATTACHED = ("No such device or address", "No such file or directory")   # how `losetup DEV` says "nothing"


def loop_line(io: NodeIO, dev: str) -> str | None:
    """What `losetup DEV` says of an attached loop (`/dev/loopN: [dev]:ino (PATH)`); None if unattached. Any
    other failure raises: read as "holds nothing", its owner would forget a loop it still has."""
    result = io.read_cmd([LOSETUP, dev], absent=_UNATTACHED)
    line = result.stdout.strip() if result.rc == 0 else ""
    return line if LOSETUP_LINE.match(line) else None


# `/dev/loopN: [0803]:7979030 (...)`: the backing file's device (hex on el6's util-linux-ng, decimal on
# util-linux 2.2x and later) and inode number, which name the file whatever path reached it
_LOOP_IDENTITY = re.compile(r"^(/dev/loop\d+): \[([0-9a-fA-F]+)\]:(\d+)")


def loop_identity(line: str) -> tuple[str, int] | None:
    """The (device text, inode) a `losetup` line says its loop's backing file has."""
    m = _LOOP_IDENTITY.match(line)
    return (m.group(2), int(m.group(3))) if m else None


def same_identity(listed: tuple[str, int] | None, file: tuple[int, int] | None) -> bool:
    """A loop's listed (device text, inode) against a file's stat (st_dev, st_ino)."""
    if listed is None or file is None or listed[1] != file[1]:
        return False
    text = listed[0]
    return (text.isdigit() and int(text) == file[0]) or int(text, 16) == file[0]


def file_identities(io: NodeIO, paths: list[str]) -> dict[str, tuple[int, int]]:
    """(st_dev, st_ino) of each existing path, in one `stat`: what a loop's listing names its file by."""
    return {name: (int(dev), int(ino)) for name, (dev, ino) in io.stat_fields(paths, "%d %i").items()}


def loop_holds(io: NodeIO, dev: str, path: str) -> bool:
    """Whether loop DEV is bound to the file at `path`: by the file's device and inode, not by the path
    `losetup` prints, which is the canonical one (an instances directory behind a symlink) and cut at 62
    characters on el6 (another service's file whose path starts the same would pass). A file gone since
    (` (deleted)`) can only be compared by its path."""
    line = loop_line(io, dev)
    m = LOSETUP_LINE.match(line) if line else None
    if not m:
        return False
    if m.group(2).endswith(" (deleted)"):
        return same_file(m.group(2), path)
    return same_identity(loop_identity(line), file_identities(io, [path]).get(path))


def same_file(reported: str | None, path: str) -> bool:
    if reported is None:
        return False
    reported = reported.removesuffix(" (deleted)")
    return path.startswith(reported[:-1]) if reported.endswith("*") else reported == path


def dd_block_size(*values: int) -> int:
    """4096 halved until it divides every offset and the length: why a 4951248-byte kernel copies with bs=16."""
    bs = 4096
    while bs > 1 and any(v % bs for v in values):
        bs //= 2
    return bs


def dd_copy(io: NodeIO, src: str, dst: str, length: int, src_off: int = 0, dst_off: int = 0) -> None:
    if io.fast and src_off == dst_off == 0 and not src.startswith("/dev/") and not dst.startswith("/dev/"):
        # a whole file onto a file of its size: one cp (extents shared where the filesystem can, holes kept)
        # instead of dd in blocks of gcd(4096, size), which is 16 bytes for a 4951248-byte kernel
        io.cmd(["/bin/cp", "--reflink=auto", "--sparse=always", src, dst])
        return
    bs = dd_block_size(src_off, dst_off, length)
    io.cmd([DD, f"if={src}", f"of={dst}", f"bs={bs}", f"count={length // bs}", f"seek={dst_off // bs}",
            f"skip={src_off // bs}", "conv=notrunc,fsync"])


def dm_table_bytes(table: str) -> int:
    """A device's size from its `dmsetup table` output: the targets' lengths (sectors) added up."""
    return sum(int(line.split()[1]) for line in table.splitlines() if line.strip()) * 512


def dm_create(io: NodeIO, name: str, table: str) -> None:
    io.cmd([DMSETUP, "create", name], stdin=table + "\n")


def _concise_safe(name: str, table: str) -> bool:
    return not any(c in name + table for c in ",;\\")


def dm_create_all(io: NodeIO, devices: list[tuple[str, str]], created: list[str]) -> None:
    """Create the devices in order, appending each made to `created` (the caller's rollback list). The fast path
    makes them all with one `dmsetup create --concise`: lvm2 creates, loads and resumes one device after the
    other, stops at the first failure and removes that one (measured on the UML node), so after a failure the
    devices before it exist and are found with one stat. An lvm2 older than 2.02.178 has no --concise: it
    refuses the option before touching anything, and this process uses one command per device from then on."""
    if io.fast and io.dm_concise and len(devices) > 1 and all(_concise_safe(n, t) for n, t in devices):
        spec = ";".join(f"{name},,,rw,{table.replace(chr(10), ',')}" for name, table in devices)
        result = io.cmd([DMSETUP, "create", "--concise", spec], check=False)
        if result.rc == 0:
            created.extend(name for name, _ in devices)
            return
        if "unrecognized option '--concise'" not in result.stderr:
            present = io.stat([f"/dev/mapper/{name}" for name, _ in devices])
            created.extend(name for name, _ in devices if f"/dev/mapper/{name}" in present)
            raise CommandError(f"{DMSETUP} create --concise", result.rc, result.stderr)
        io.dm_concise = False
    for name, table in devices:
        dm_create(io, name, table)
        created.append(name)


# A device is busy for a moment after its last user let go (udev workers probing it, a hypervisor that reported
# the domain shut off before closing its disks: field bug E5, E9). The original retried once after 100 us;
# ours backs off from 100 us, doubling up to 2 s a wait, until DM_REMOVE_DEADLINE seconds have been waited.
DM_REMOVE_DEADLINE = 10.0
DM_REMOVE_MAX_WAIT = 2.0


def dm_remove(io: NodeIO, name: str) -> None:
    wait, waited = 0.0001, 0.0
    while True:
        result = io.cmd([DMSETUP, "remove", name], check=False)
        if result.rc == 0:
            return
        if waited >= DM_REMOVE_DEADLINE or "Device or resource busy" not in result.stderr:
            raise CommandError(f"{DMSETUP} remove {name}", result.rc, result.stderr)
        io.clock.sleep(wait)
        waited += wait
        wait = min(wait * 2 if wait >= 0.1 else 0.1, DM_REMOVE_MAX_WAIT)


def mkfs_ext3(io: NodeIO, dev: str, size_bytes: int) -> None:
    io.cmd(["/sbin/mkfs.ext3", "-b", "4096", dev, str(size_bytes // 4096)])


def mkswap(io: NodeIO, dev: str, size_bytes: int) -> None:
    io.cmd(["/sbin/mkswap", dev, str(size_bytes // 1024)])


def tune2fs(io: NodeIO, dev: str) -> None:
    with io.workers.hold(io.loop_sem):
        io.cmd(["/sbin/tune2fs", dev, "-c", "0", "-i", "0"])


def parted_mklabel(io: NodeIO, dev: str) -> None:
    io.cmd(["/sbin/parted", "--script", dev, "mklabel", "msdos"])


def parted_label(io: NodeIO, dev: str, spans: list[tuple[int, int]]) -> None:
    """An msdos label with a primary partition per (first, last) sector span: NC's `mklabel` then one `mkpart`
    each, or on the fast path all of them in one parted, which runs its commands in order and stops at the
    first that fails (a program start under emulation is most of a parted's 0.7 s)."""
    if not io.fast:
        parted_mklabel(io, dev)
        for first, last in spans:
            parted_mkpart(io, dev, first, last)
        return
    argv = ["/sbin/parted", "--script", dev, "mklabel", "msdos"]
    for first, last in spans:
        argv += ["mkpart", "primary", f"{first}s", f"{last}s"]
    io.cmd(argv)


def parted_mkpart(io: NodeIO, dev: str, first: int, last: int, fs: str = "") -> None:
    argv = ["/sbin/parted", "--script", dev, "mkpart", "primary"] + ([fs] if fs else []) + [f"{first}s", f"{last}s"]
    # The NC formats "mkpart primary %s %lds %lds" with an empty fs hint, hence the double space in its log.
    io.cmd(argv, render=f"/sbin/parted --script {dev} mkpart primary {fs} {first}s {last}s")


def mount(io: NodeIO, dev: str, mnt: str, read_only: bool = False) -> None:
    with io.workers.hold(io.loop_sem):
        io.cmd(["mount"] + (["-o", "ro"] if read_only else []) + [dev, mnt])


@contextmanager
def mounted(io: NodeIO, dev: str, mnt: str, read_only: bool = False):
    """dev mounted at mnt, a fresh 0700 directory; unmounted and the directory removed on every path. A mount
    that fails raises CommandError before the caller's block runs."""
    io.mkdirs(mnt)
    io.chmod(0o700, mnt)
    try:
        mount(io, dev, mnt, read_only)
        try:
            yield mnt
        finally:
            umount(io, mnt)
    finally:
        io.rmdir(mnt)


UMOUNT_TRIES = 3


def umount(io: NodeIO, mnt: str) -> None:
    """NC unmounts once and, when that fails, leaves the mount and every device under it behind for good
    (the fault sweep found it). A busy filesystem is usually busy for a moment, so: up to 3 tries, 100 ms
    apart; a filesystem that stays busy still fails as before."""
    with io.workers.hold(io.loop_sem):
        for _ in range(UMOUNT_TRIES - 1):
            if io.cmd(["umount", mnt], check=False).rc == 0:
                return
            io.clock.sleep(0.1)
        io.cmd(["umount", mnt])


def chown(io: NodeIO, owner: str, path: str) -> None:
    io.cmd(["/bin/chown", owner, path])


def chmod(io: NodeIO, mode: int, path: str) -> None:
    io.cmd(["/bin/chmod", f"0{mode:o}", path])
