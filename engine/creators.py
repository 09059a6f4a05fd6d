"""What fills a freshly created blob: download, empty formatted partition, work copy, combined disk."""
from __future__ import annotations

from engine.errors import EngineError

from . import diskutil
from .artifacts import MBR_BLOCKS, Artifact
from .blobstore.blob import Blockblob
from .blobstore.clone import MapEntry, clone, clone_whole, copy
from .imager.bootable import boot_creator, install_grub
from .keyinject import inject_key
from .nodeio import CommandError


class CreatorError(EngineError):
    pass


def run_creator(ctx, art: Artifact) -> None:
    {"download": download, "partition": partition, "copy": copy_creator, "disk": disk,
     "boot": boot_creator}[art.creator](ctx, art)


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
            clone_whole(bb, dep.bb)
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
    # a bootable disk's boot partition (its last) sits right after the header; the others follow it, in order
    boot = art.deps[-1] if art.bootable else None
    offset = MBR_BLOCKS + (boot.size_bytes // 512 if boot else 0)
    spans = []
    for dep in art.deps:
        blocks = dep.size_bytes // 512
        if dep is boot:
            start = MBR_BLOCKS
        else:
            start, offset = offset, offset + blocks
        entries.append(MapEntry("map" if relation == "snapshot" else "copy", dep.bb, 0, start, blocks))
        spans.append((start, start + blocks - 1))
    clone(bb, entries)
    diskutil.parted_label(ctx.io, bb.device, spans)
    if boot is not None:
        install_grub(ctx, bb.device, len(art.deps))
