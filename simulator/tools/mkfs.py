"""mke2fs / mkfs.ext2|3|4 and mkswap, with e2fsprogs 1.47.0 / util-linux 2.38 output."""
from __future__ import annotations

import uuid as uuidlib

from simulator.fs.base import FsError
from simulator.fs.extgeo import plan_geometry
from simulator.fs.mkext import make_filesystem
from simulator.fs.probe import fs_type
from simulator.fs.swap import make_swap

from .base import Abort, Result, tool
from .endpoint import open_endpoint


def _progress(label: str, total: int, last: bool = False) -> str:
    width = len(str(total))
    shown = f"{0:>{width}}/{total:>{width}}"
    back = "\b" * len(shown)
    return f"{label}{shown}{back}{' ' * len(shown)}{back}done{'' if last else ' ' * 28}\n"


def _int_log10(n: int) -> int:
    count = 0
    while n >= 10:
        n //= 10
        count += 1
    return count


def _device_in_use(node, ep) -> bool:
    if ep.device is None:
        return False
    return ep.device.key in node.kernel.mounted_devices() or ep.device.key in node.kernel.swaps


def _discard(ep) -> bool:
    """BLKDISCARD / punch-hole: what mke2fs and mkswap try before writing."""
    if ep.kind == "file":
        ep.zero(0, ep.size)
        return True
    dev = ep.device
    if getattr(dev, "discard", None) is not None:
        return dev.discard(0, dev.size)
    return False


_EXTENDED_HELP = (
    "Extended options are separated by commas, and may take an argument which\n"
    "\tis set off by an equals ('=') sign.\n\n"
    "Valid extended options are:\n"
    "\tmmp_update_interval=<interval>\n\tnum_backup_sb=<0|1|2>\n"
    "\tstride=<RAID per-disk data chunk in blocks>\n\tstripe-width=<RAID stride * data disks in blocks>\n"
    "\toffset=<offset to create the file system>\n\tresize=<resize maximum size in blocks>\n"
    "\tpacked_meta_blocks=<0 to disable, 1 to enable>\n\tlazy_itable_init=<0 to disable, 1 to enable>\n"
    "\tlazy_journal_init=<0 to disable, 1 to enable>\n\troot_owner=<uid of root dir>:<gid of root dir>\n"
    "\ttest_fs\n\tdiscard\n\tnodiscard\n\tencoding=<encoding>\n\tencoding_flags=<flags>\n"
    "\tquotatype=<quota type(s) to be enabled>\n\tassume_storage_prezeroed=<0 to disable, 1 to enable>\n\n")
# options of 1.47.0 whose effect on an ext2/3 image the simulator does not write: refused, never ignored
_EXTENDED_NOT_MODELLED = {"mmp_update_interval", "num_backup_sb", "stride", "stripe-width", "stripe_width",
                          "offset", "resize", "packed_meta_blocks", "root_owner", "test_fs", "encoding",
                          "encoding_flags", "quotatype", "assume_storage_prezeroed"}


def _extended_options(options: list[str], banner: str):
    """-E: (hash seed or None, whether to discard). Errors as mke2fs's parse_extended_opts prints them."""
    hash_seed, discard, errors, bad = None, True, "", None
    for option in options:
        name, _, value = option.partition("=")
        if name == "hash_seed":
            try:
                hash_seed = uuidlib.UUID(value)
            except ValueError:
                errors += f"Invalid hash seed: {value}\n"
                bad = bad or ""
        elif name in ("discard", "nodiscard"):
            discard = name == "discard"
        elif name in ("lazy_itable_init", "lazy_journal_init"):
            pass   # an ext2/3 image on a discarded device is zeros either way: no byte differs
        elif name in _EXTENDED_NOT_MODELLED:
            raise Abort(f"{banner}mke2fs (simulated): extended option '{name}' is not modelled\n")
        else:
            bad = name   # mke2fs cuts the token at its "=" before it reports it
    if bad is not None:
        raise Abort(f"{banner}{errors}\nBad option(s) specified: {bad}\n\n{_EXTENDED_HELP}")
    return hash_seed, discard


@tool("mkfs.ext2", "mkfs.ext3", "mkfs.ext4", "mke2fs", "mkfs")
def mke2fs(node, argv, stdin):
    prog = argv[0].rsplit("/", 1)[-1]
    kind = {"mkfs.ext3": "ext3", "mkfs.ext4": "ext4"}.get(prog, "ext2")
    args = argv[1:]
    block_size = None
    quiet = force = False
    label = ""
    fixed_uuid = None
    extended: list[str] = []
    inode_ratio = inode_count = None
    positional = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-b", "-L", "-t", "-T", "-O", "-E", "-N", "-i", "-I", "-m", "-U") :
            if i + 1 >= len(args):
                raise Abort(f"{prog}: option requires an argument -- '{a[1]}'\n")
            value = args[i + 1]
            if a == "-b":
                if not value.isdigit() or int(value) not in (1024, 2048, 4096, 65536):
                    raise Abort(f"{prog}: invalid block size - {value}\n")
                block_size = int(value)
            elif a == "-L":
                label = value
            elif a == "-t":
                kind = value
            elif a == "-U":
                fixed_uuid = value
            elif a == "-E":
                extended.extend(v for v in value.split(",") if v)
            elif a == "-N":
                if not value.isdigit():
                    raise Abort(f"{prog}: bad num inodes - {value}\n")
                inode_count = int(value)
            elif a == "-i":
                if not value.isdigit() or not 1024 <= int(value) <= 67108864:
                    raise Abort(f"{prog}: invalid inode ratio {value} (min 1024/max 67108864)\n")
                inode_ratio = int(value)
            elif a in ("-T", "-O", "-I", "-m"):
                raise Abort(f"mke2fs (simulated): option '{a}' is not modelled\n")
            i += 2
            continue
        if a == "-j":
            kind = "ext3" if kind == "ext2" else kind
        elif a == "-q":
            quiet = True
        elif a in ("-F", "-FF"):
            force = True
        elif a.startswith("-") and len(a) > 1:
            raise Abort(f"{prog}: invalid option -- '{a[1]}'\n")
        else:
            positional.append(a)
        i += 1
    banner = f"mke2fs {node.dialect.e2fsprogs}\n"
    if not positional:
        raise Abort("Usage: mke2fs [-c|-l filename] [-b block-size] [-C cluster-size]\n")
    device = positional[0]
    try:
        ep = open_endpoint(node, device, write=True)
    except FsError:
        raise Abort(f"{'' if quiet else banner}The file {device} does not exist and no size was specified.\n") from None
    if _device_in_use(node, ep):
        raise Abort(f"{'' if quiet else banner}{device} is mounted; will not make a filesystem here!\n")
    size = ep.size or 0
    blocks = None
    if len(positional) > 1:
        if not positional[1].isdigit():
            raise Abort(f"{'' if quiet else banner}{prog}: invalid blocks '{positional[1]}' on device '{device}'\n")
        blocks = int(positional[1])
    modern = node.dialect.e2fsprogs.startswith("1.47")   # its mke2fs.conf and library layout; see mkext
    hash_seed, discard = _extended_options(extended, "" if quiet else banner)
    geo = plan_geometry(size, block_size, blocks, inode_ratio, small_inode_size=256 if modern else 128,
                        resize_inode=modern, inode_count=inode_count)
    if geo.inodes_per_group < 11:    # the reserved inodes and lost+found would spill into group 1
        raise Abort(f"mke2fs (simulated): {geo.inodes_per_group} inodes per group (fewer than 11) is not modelled\n")
    if inode_count is not None and inode_count * geo.inode_size >= geo.blocks * geo.block_size:
        raise Abort(f"{prog}: inode_size ({geo.inode_size}) * inodes_count ({inode_count}) too big for a\n"
                    f"\tfilesystem with {geo.blocks} blocks, specify higher inode_ratio (-i)\n"
                    "\tor lower inode count (-N).\n\n")
    if geo.blocks * geo.block_size > size and not force:
        raise Abort(f"{'' if quiet else banner}{prog}: Filesystem larger than apparent device size.\n"
                    f"Proceed anyway? (y,N) ")
    out = ""
    if discard and _discard(ep) and not quiet:
        out += _progress("Discarding device blocks: ", geo.blocks)
    fs_uuid = node.rng.uuid4()
    if fixed_uuid is not None:   # parsed only after the discard, as mke2fs does
        try:
            fs_uuid = uuidlib.UUID(fixed_uuid)
        except ValueError:
            raise Abort(f"{'' if quiet else banner}{device}: could not parse UUID: {fixed_uuid}\n\n",
                        stdout=out) from None
    drawn_seed = node.rng.uuid4() if modern else None
    hash_seed = hash_seed or drawn_seed
    journal = make_filesystem(ep, geo, kind, fs_uuid, int(node.clock.now), label, hash_seed)
    node.clock.advance(0.05 + geo.groups * 0.002)
    if quiet:
        return Result(0)
    out += f"Creating filesystem with {geo.blocks} {geo.block_size // 1024}k blocks and {geo.inodes} inodes\n"
    if geo.groups > 1:
        out += f"Filesystem UUID: {fs_uuid}\nSuperblock backups stored on blocks: "
        col_left = 0
        for n, block in enumerate(geo.backups()):
            if n:
                out += ", "
            need = _int_log10(block) + 2
            if need > col_left:
                out += "\n\t"
                col_left = 72
            col_left -= need
            out += str(block)
        out += "\n\n"
    else:
        out += "\n"
    out += _progress("Allocating group tables: ", geo.groups)
    out += _progress("Writing inode tables: ", geo.groups)
    if journal:
        out += f"Creating journal ({journal} blocks): done\n"
    out += _progress("Writing superblocks and filesystem accounting information: ", geo.groups, last=True)
    out += "\n"
    return Result(0, out, banner)


@tool("mkswap")
def mkswap(node, argv, stdin):
    args = argv[1:]
    label = ""
    fixed_uuid = None
    positional = []
    i = 0
    while i < len(args):
        if args[i] in ("-L", "-U", "-p") and i + 1 < len(args):
            if args[i] == "-L":
                label = args[i + 1]
            elif args[i] == "-U":
                fixed_uuid = args[i + 1]
            i += 2
            continue
        if args[i] in ("-f", "-c"):
            i += 1
            continue
        positional.append(args[i])
        i += 1
    if fixed_uuid is not None:   # checked with the options, before the device is looked at
        try:
            uuidlib.UUID(fixed_uuid)
        except ValueError:
            raise Abort("mkswap: error: parsing UUID failed\n") from None
    if not positional:
        raise Abort("mkswap: no device specified\nTry 'mkswap --help' for more information.\n")
    device = positional[0]
    try:
        ep = open_endpoint(node, device, write=True)
    except FsError as exc:
        raise Abort(f"mkswap: cannot open {device}: {exc.strerror}\n") from None
    size = ep.size or 0
    if len(positional) > 1:
        if not positional[1].isdigit():
            raise Abort(f"mkswap: invalid block count argument: '{positional[1]}'\n")
        # the block count is KiB, taken in whole pages; both sizes are reported as pages x 4 KiB
        want_pages, device_pages = int(positional[1]) // 4, size // 4096
        if want_pages > device_pages:
            raise Abort(f"mkswap: error: size {want_pages * 4} KiB is larger than device size "
                        f"{device_pages * 4} KiB\n")
        size = want_pages * 4096
    if _device_in_use(node, ep):
        raise Abort(f"mkswap: error: {device} is mounted; will not make swapspace\n")
    if size < 10 * 4096:
        raise Abort("mkswap: error: swap area needs to be at least 40 KiB\n")
    pages = size // 4096
    swap_uuid = node.rng.uuid4() if fixed_uuid is None else uuidlib.UUID(fixed_uuid)
    err = "" if node.dialect.util_linux.startswith("2.17") else _swap_file_warnings(ep, device)
    old = fs_type(ep)
    if old is not None and not node.dialect.util_linux.startswith("2.17"):
        err += f"mkswap: {device}: warning: wiping old {old} signature.\n"
    make_swap(ep, size, swap_uuid, label)
    usable = (pages - 1) * 4096
    if node.dialect.util_linux.startswith("2.17"):
        out = f"Setting up swapspace version 1, size = {usable // 1024} KiB\n"
    else:
        out = f"Setting up swapspace version 1, size = {size_to_human_string(usable)} ({usable} bytes)\n"
    out += f"{'no label' if not label else 'LABEL=' + label}, UUID={swap_uuid}\n"
    return Result(0, out, err)


def _swap_file_warnings(ep, device: str) -> str:
    """util-linux 2.38 on a swap file: group/other access, and holes the kernel may refuse to swap to."""
    if ep.kind != "file":
        return ""
    out = ""
    mode = ep.fs.getattr(ep.ino).mode & 0o7777
    if mode & 0o077:
        out += f"mkswap: {device}: insecure permissions {mode:04o}, fix with: chmod 0600 {device}\n"
    size = ep.size or 0
    covered = sum(n for _, n in ep.data_ranges(0, size))
    if covered < size:
        # the simulator keeps no zero page: a file filled with written zeros counts as holes here
        out += (f"\nmkswap: {device} contains holes or other unsupported extents.\n"
                "        This swap file can be rejected by kernel on swap activation!\n"
                "        Use --verbose for more details.\n\n")
    return out


def size_to_human_string(n: int) -> str:
    """util-linux's size_to_human_string(SIZE_SUFFIX_SPACE | SIZE_SUFFIX_3LETTER): binary units, one decimal
    rounded half up, a carry into the integer, a trailing zero dropped."""
    exp = 0
    while exp < 60 and n >= 1 << (exp + 10):
        exp += 10
    letter = "BKMGTPE"[exp // 10]
    suffix = " B" if letter == "B" else f" {letter}iB"
    dec, frac = (n >> exp, n % (1 << exp)) if exp else (n, 0)
    if frac:
        frac = ((frac * 1000 >> exp) + 50) // 100 * 10
        if frac == 100:
            dec, frac = dec + 1, 0
    if frac:
        return f"{dec}.{frac // 10}{suffix}"
    return f"{dec}{suffix}"
