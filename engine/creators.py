"""What fills a freshly created blob: download, empty formatted partition, work copy, combined disk."""
from __future__ import annotations

from . import diskutil
from .artifacts import MBR_BLOCKS, Artifact
from .blobstore.blob import Blockblob
from .blobstore.clone import MapEntry, clone, copy
from .keyinject import inject_key
from .nodeio import CommandError


class CreatorError(Exception):
    pass


BOOT_BLOCKS = 204800      # the imager's boot partition: 100 MiB


def run_creator(ctx, art: Artifact) -> None:
    if art.creator == "boot":
        from .imager.bootable import boot_creator
        return boot_creator(ctx, art)
    {"download": download, "partition": partition, "copy": copy_creator, "disk": disk}[art.creator](ctx, art)


def download(ctx, art: Artifact) -> None:
    """Fill the blob from the image source; a short or long result must never look like a valid blob."""
    bb: Blockblob = art.bb
    received = ctx.images.fetch(ctx.io, art.vbr, bb.blocks_path, abort=getattr(ctx, "abort", None))
    size = received if isinstance(received, int) else ctx.io.stat([bb.blocks_path]).get(bb.blocks_path, (0, 0))[0]
    if size != art.size_bytes:
        raise CreatorError(f"downloaded {art.vbr.id} has {size} bytes, expected {art.size_bytes}")


def partition(ctx, art: Artifact) -> None:
    """3.x formats the blob's loop device directly; ext2 requests get ext3 too, as in the original."""
    bb: Blockblob = art.bb
    fmt = art.vbr.format
    if fmt in ("ext2", "ext3"):
        diskutil.mkfs_ext3(ctx.io, bb.device, art.size_bytes)
    elif fmt == "swap":
        diskutil.mkswap(ctx.io, bb.device, art.size_bytes)
    elif fmt == "ntfs":
        raise CreatorError("format of type ntfs is NOT IMPLEMENTED")


def copy_creator(ctx, art: Artifact) -> None:
    bb: Blockblob = art.bb
    dep = art.deps[0]
    if dep.bb is not bb:
        if art.must_be_file:
            copy(dep.bb, bb, must_be_file=True)
        else:
            relation = "snapshot" if bb.store.snapshot == "dm" else "copy"
            clone(bb, [MapEntry(relation, dep.bb, 0, 0, (dep.bb.size_bytes + 511) // 512)])
    if art.do_tune_fs:
        try:
            diskutil.tune2fs(ctx.io, bb.device)
        except CommandError as exc:  # EUCA-3115: a failing tune2fs is only a warning
            ctx.io.log(f"warning: {exc}")
    if art.vbr.type in ("kernel", "ramdisk"):
        diskutil.chmod(ctx.io, 0o664, bb.blocks_path)
    if art.sshkey and ctx.inject_keys:
        inject_key(ctx.io, bb.device, art.sshkey, ctx.token)


def disk(ctx, art: Artifact) -> None:
    """63 sectors from a snapshot of euca-zero, partitions mapped in order, then an msdos label by parted."""
    bb: Blockblob = art.bb
    relation = "snapshot" if bb.store.snapshot == "dm" else "copy"
    entries = [MapEntry(relation, "zero", 0, 0, MBR_BLOCKS)]
    offset = MBR_BLOCKS
    spans = []
    deps = list(art.deps)
    first_at = {}
    if art.bootable:
        # the boot partition (the last) sits right after the header; the others follow it, in order
        first_at[id(deps[-1])] = MBR_BLOCKS
        offset = MBR_BLOCKS + BOOT_BLOCKS
    for dep in deps:
        blocks = dep.size_bytes // 512
        start = first_at.get(id(dep), offset)
        entries.append(MapEntry("map" if relation == "snapshot" else "copy", dep.bb, 0, start, blocks))
        spans.append((start, start + blocks - 1))
        if id(dep) not in first_at:
            offset += blocks
    clone(bb, entries)
    diskutil.parted_mklabel(ctx.io, bb.device)
    for first, last in spans:
        diskutil.parted_mkpart(ctx.io, bb.device, first, last)
