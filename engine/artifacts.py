"""The artifact tree: what an instance's disk is made of, with the original's ids and signatures.

For the seed's instance: sentinel -> {eki work copy -> eki (cache), eri work copy -> eri (cache),
dsk (work, hollow) -> {keyed emi copy -> emi (cache), prt ephemeral copy -> prt (cache), swap copy -> swap}}.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .hashing import MAX_ID_LEN, convert_id, hexjenkins
from .vbr import Vbr, VbrError, VirtualMachine

MBR_BLOCKS = 63
KEY_PATH = "/root/.ssh/authorized_keys"


@dataclass
class ImageDescription:
    sig: str                 # the text the id hashes (the image's manifest)
    size_bytes: int
    digest: str | None = None   # pinned hash, for replaying logs whose manifests are unknown


class ImageSource(Protocol):
    def describe(self, vbr: Vbr) -> ImageDescription: ...

    def fetch(self, io, vbr: Vbr, dest_path: str, abort=None) -> None: ...


@dataclass(eq=False)
class Artifact:
    id: str
    sig: str
    size_bytes: int
    creator: str | None              # download, partition, copy, disk; None for the sentinel
    vbr: Vbr | None = None
    may_be_cached: bool = False
    must_be_file: bool = False
    must_be_hollow: bool = False
    do_tune_fs: bool = False
    is_partition: bool = False
    bootable: bool = False           # the disk's last partition goes first on disk (the imager's boot=yes)
    sshkey: str | None = None
    deps: list[Artifact] = field(default_factory=list)
    is_in_cache: bool = False
    bb: object = None

    def walk(self):
        yield self
        for dep in self.deps:
            yield from dep.walk()


def _check_id(art_id: str) -> str:
    if len(art_id) > MAX_ID_LEN:
        raise VbrError(f"artifact id '{art_id}' is longer than {MAX_ID_LEN} characters")
    return art_id


def alloc_vbr(vbr: Vbr, images: ImageSource, make_work_copy: bool, must_be_file: bool,
              sshkey: str | None, pinned: dict[str, str]) -> Artifact:
    """art_alloc_vbr: the base artifact (downloaded or made empty) and its per-instance work copy."""
    if vbr.location_type == "none":
        prefix = f"prt-{vbr.size // 2**20:05d}{vbr.format_name}" if vbr.id == "none" else vbr.id
        sig = f"id={vbr.id} size={vbr.size} format={vbr.format_name}\n\n"
        base = Artifact(_check_id(f"{prefix}-{hexjenkins(sig)}"), sig, vbr.size, "partition", vbr,
                        may_be_cached=True, must_be_file=must_be_file)
    elif vbr.location_type in ("url", "walrus", "file"):
        desc = images.describe(vbr)
        art_id = _check_id(f"{vbr.id}-{desc.digest or hexjenkins(desc.sig)}")
        # For downloaded images the stored sig is the id itself (art_alloc(art_id, art_id, ...)).
        base = Artifact(art_id, art_id, desc.size_bytes, "download", vbr, may_be_cached=True,
                        must_be_file=must_be_file)
    else:
        raise VbrError(f"resource location '{vbr.location}' ({vbr.location_type}) is not supported on this node")
    base.do_tune_fs = vbr.type == "machine" and vbr.partition_number > 0
    if not (make_work_copy or sshkey):
        return base
    art_id, sig = base.id, base.sig
    if sshkey:
        key_part = f"KEY {KEY_PATH}\n{sshkey}\n\n"
        sig = base.sig + key_part
        art_id = _check_id(f"emi{convert_id(base.id)}-{pinned.get('keyed') or hexjenkins(key_part)}")
    return Artifact(art_id, sig, base.size_bytes, "copy", vbr, may_be_cached=not make_work_copy,
                    must_be_file=must_be_file, do_tune_fs=base.do_tune_fs, sshkey=sshkey, deps=[base])


def alloc_disk(parts: list[Artifact], pinned: dict[str, str]) -> Artifact:
    """art_alloc_disk: 63-sector header plus the partitions in order; hollow, never cached."""
    prefix, sig, size = "dsk", "", MBR_BLOCKS * 512
    for i, part in enumerate(parts):
        if part.size_bytes < 1:
            raise VbrError("unknown size for partition")
        if part.size_bytes % 512:
            raise VbrError(f"size for partition {i} is not a multiple of 512")
        if part.id.lower().startswith("emi-"):
            prefix += convert_id(part.id)
        sig += f"PARTITION {i} ({part.id})\n{part.sig}\n\n"
        size += part.size_bytes
        part.is_partition = True
    art_id = _check_id(f"{prefix}-{pinned.get('disk') or hexjenkins(sig)}")
    return Artifact(art_id, sig, size, "disk", None, must_be_hollow=True, deps=list(parts))


def alloc_tree(vm: VirtualMachine, instance_id: str, images: ImageSource, sshkey: str | None = None,
               pinned: dict[str, str] | None = None) -> Artifact:
    """vbr_alloc_tree (3.x): kernel/ramdisk as file copies under the sentinel, partitions of one disk combined."""
    pinned = pinned or {}
    sentinel = Artifact(instance_id, "", 0, None)
    for vbr in vm.vbrs:
        if vbr.type in ("kernel", "ramdisk"):
            sentinel.deps.append(alloc_vbr(vbr, images, True, True, None, pinned))
    disks: dict[tuple[str, int], dict[int, Vbr]] = {}
    for vbr in vm.vbrs:
        if vbr.type in ("kernel", "ramdisk") or vbr.device_type != "disk":
            continue
        if vbr.type == "ebs":
            raise VbrError(f"EBS volume '{vbr.id}' cannot be attached: this node has no storage controller")
        disks.setdefault((vbr.bus, vbr.disk_number), {})[vbr.partition_number] = vbr
    for _, parts in sorted(disks.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if 0 in parts:
            sentinel.deps.append(alloc_vbr(parts[0], images, True, False, None, pinned))
            continue
        arts = [alloc_vbr(parts[k], images, True, False, sshkey if parts[k].type == "machine" else None, pinned)
                for k in sorted(parts)]
        sentinel.deps.append(alloc_disk(arts, pinned))
    return sentinel
