"""tune2fs -c / -i / -C / -L: change the superblock fields at their real offsets; -l lists it (after the
changes, as tune2fs does)."""
from __future__ import annotations

import struct

from simulator.fs.base import FsError
from simulator.fs.extgeo import MAGIC, _has_super

from .base import Abort, Result, tool
from .coreutils import _GROUPS, _USERS
from .e2p import list_super
from .endpoint import open_endpoint

USAGE = ("Usage: tune2fs [-c max_mounts_count] [-e errors_behavior] [-f] [-g group]\n"
         "\t[-i interval[d|m|w]] [-j] [-J journal_options] [-l]\n"
         "\t[-m reserved_blocks_percent] [-o [^]mount_options[,...]]\n"
         "\t[-r reserved_blocks_count] [-u user] [-C mount_count]\n"
         "\t[-L volume_label] [-M last_mounted_dir]\n"
         "\t[-O [^]feature[,...]] [-Q quota_options]\n"
         "\t[-E extended-option[,...]] [-T last_check_time] [-U UUID]\n"
         "\t[-I new_inode_size] [-z undo_file] device\n")
_WITH_VALUE = ("-c", "-i", "-L", "-C")
_MODELLED = _WITH_VALUE + ("-l",)


def _strtol(text: str) -> tuple[int, str]:
    """C's strtol/strtoul with base 0: leading blanks, sign, 0x hex, leading-0 octal; the unparsed rest."""
    text = text.lstrip(" \t\n\r\f\v")
    i, sign = 0, 1
    if text[:1] in "+-" and text:
        sign, i = (-1 if text[0] == "-" else 1), 1
    base, digits = 10, "0123456789"
    if text[i:i + 2].lower() == "0x" and text[i + 2:i + 3].lower() in "0123456789abcdef" and text[i + 2:i + 3]:
        base, digits, i = 16, "0123456789abcdef", i + 2
    elif text[i:i + 1] == "0":
        base, digits = 8, "01234567"
    j = i
    while j < len(text) and text[j].lower() in digits:
        j += 1
    return sign * (int(text[i:j], base) if j > i else 0), text[j:]


def _interval(text: str) -> int | None:
    """-i's value in seconds (wrapped to 64 bits like strtoul's), or None if tune2fs calls it bad."""
    value, rest = _strtol(text)
    value %= 2**64
    if rest[:1] == "s":
        rest = rest[1:]
    elif rest[:1] in ("", "d", "D"):
        value, rest = value * 86400, rest[1:]
    elif rest[:1] in ("m", "M"):
        value, rest = value * 86400 * 30, rest[1:]
    elif rest[:1] in ("w", "W"):
        value, rest = value * 86400 * 7, rest[1:]
    return None if rest else value % 2**64


def _mount_count(text: str, low: int) -> int | None:
    value, rest = _strtol(text)
    return None if rest or not low <= value <= 16000 else value


@tool("tune2fs")
def tune2fs(node, argv, stdin):
    """Options are checked before the device is opened, with tune2fs's texts: the banner on stdout, the
    complaint and the usage on stderr."""
    banner = f"tune2fs {node.dialect.e2fsprogs}\n"
    args = argv[1:]
    device = None
    changes: list[tuple[str, object]] = []
    warnings = ""
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1 and a[:2] not in _MODELLED:
            if a[1] in "eEfgjJmMoOQrTuUIz":
                raise Abort(f"tune2fs (simulated): option '{a[:2]}' is not modelled\n", stdout=banner)
            raise Abort(f"tune2fs: invalid option -- '{a[1]}'\n{USAGE}", stdout=banner)
        if a[:2] in _WITH_VALUE:
            opt = a[:2]
            if len(a) > 2:
                value, i = a[2:], i + 1
            elif i + 1 < len(args):
                value, i = args[i + 1], i + 2
            else:
                raise Abort(f"tune2fs: option requires an argument -- '{opt[1]}'\n{USAGE}", stdout=banner)
            if opt == "-c":
                if value == "random":
                    raise Abort("tune2fs (simulated): '-c random' is not modelled\n", stdout=banner)
                count = _mount_count(value, -16000)
                if count is None:
                    raise Abort(f"tune2fs: bad mounts count - {value}\n{USAGE}", stdout=banner)
                changes.append((opt, count))
            elif opt == "-C":
                count = _mount_count(value, 0)
                if count is None:
                    raise Abort(f"tune2fs: bad mounts count - {value}\n{USAGE}", stdout=banner)
                changes.append((opt, count))
            elif opt == "-i":
                seconds = _interval(value)
                if seconds is None:
                    raise Abort(f"tune2fs: bad interval - {value}\n{USAGE}", stdout=banner)
                changes.append((opt, seconds))
            else:
                if len(value.encode()) > 16:
                    warnings += "Warning: label too long, truncating.\n"
                changes.append((opt, value))
            continue
        if a == "-l":
            changes.append((a, ""))
        else:
            device = a
        i += 1
    if device is None:
        raise Abort(USAGE, stdout=banner)
    try:
        ep = open_endpoint(node, device, write=True)
        sb = bytearray(ep.read(1024, 1024))
    except FsError as exc:
        raise Abort(f"tune2fs: {exc.strerror} while trying to open {device}\n"
                    f"Couldn't find valid filesystem superblock.\n", rc=1, stdout=banner) from None
    if len(sb) < 1024 or struct.unpack_from("<H", sb, 56)[0] != MAGIC:
        # e2fsprogs then says what blkid finds there instead (seen on the real node for an msdos label)
        mbr = ep.read(510, 2) if (ep.size or 0) >= 512 else b""
        found = f"Found a dos partition table in {device}\n" if mbr == b"\x55\xaa" else ""
        raise Abort(f"tune2fs: Bad magic number in super-block while trying to open {device}\n{found}",
                    rc=1, stdout=banner)
    listing = ("-l", "") in changes
    if listing and not node.dialect.e2fsprogs.startswith("1.47"):
        raise Abort(f"tune2fs (simulated): -l is modelled on e2fsprogs 1.47 only, not {node.dialect.e2fsprogs}\n")
    # tune2fs applies what it was asked in its own order, whatever the command line's; a repeated option's
    # last value wins
    last = dict(c for c in changes if c[0] != "-l")
    changes = [(opt, last[opt]) for opt in ("-c", "-C", "-i", "-L") if opt in last]
    out = banner
    for opt, value in changes:
        if opt == "-c":
            count = -1 if value == 0 else value
            struct.pack_into("<h", sb, 54, count)
            out += f"Setting maximal mount count to {count}\n"
        elif opt == "-i":
            if value >= 2**32:
                raise Abort(f"{warnings}tune2fs: interval between checks is too big ({value})\n", stdout=out)
            struct.pack_into("<I", sb, 68, value)
            out += f"Setting interval between checks to {value} seconds\n"
        elif opt == "-C":
            struct.pack_into("<H", sb, 52, value)
            out += f"Setting current mount count to {value}\n"
        elif opt == "-L":
            name = value.encode()[:16]
            sb[120:136] = name + bytes(16 - len(name))
    if listing:
        out += list_super(bytes(sb), {u: n for n, u in _USERS.items()}, {g: n for n, g in _GROUPS.items()})
    if not changes:   # a listing opens the device read-only: nothing is written, no snapshot chunk copied
        return Result(0, out, warnings)
    ep.write(1024, bytes(sb))
    # ext2fs_flush also rewrites every backup superblock (sparse_super groups), each carrying its group
    # number: on the real node `tune2fs -c 0 -i 0` COWs 5 chunks of a snapshotted 8-group filesystem.
    first, per_group, count = struct.unpack_from("<III", sb, 20)[0], struct.unpack_from("<I", sb, 32)[0], \
        struct.unpack_from("<I", sb, 4)[0]
    block_size = 1024 << struct.unpack_from("<I", sb, 24)[0]
    groups = (count - first + per_group - 1) // per_group if per_group else 0
    for group in range(1, groups):
        if _has_super(group):
            backup = bytearray(sb)
            struct.pack_into("<H", backup, 90, group)
            ep.write((first + group * per_group) * block_size, bytes(backup))
    node.clock.advance(0.01)
    return Result(0, out, warnings)
