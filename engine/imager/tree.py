"""The artifact tree `prepare` builds (vbr_alloc_tree with do_make_bootable, without work copies).

Without `boot=yes` it is NC's combined disk: a 63-sector header and the partitions in order. With it the imager
adds `boot:none:104857600:ext3:sda<N+1>:none`, and the disk puts that 100 MiB partition first on disk (sectors
63-204862) while the partition table still lists partitions in VBR order, so the root is partition 1 at 204863
(eucalyptus-nc.md 5.2). The boot partition here is a copy of the cached empty ext3 partition holding the kernel,
the ramdisk and a GRUB configuration; its signature carries theirs, so a different kernel makes a different
boot partition instead of writing into a shared cached one."""
from __future__ import annotations

from engine.artifacts import Artifact, alloc_disk, alloc_vbr
from engine.hashing import hexjenkins
from engine.vbr import Vbr, VbrError, parse_ascii, parse_vbrs

BOOT_SIZE = 100 << 20          # the boot partition: 204800 sectors


def boot_vbr(vbrs: list[Vbr]) -> Vbr:
    """N = the given VBRs naming sda1, sda2 or sda3 (cmd_prepare.c counts exactly those)."""
    n = sum(1 for v in vbrs if any(f":sda{k}:" in v.ascii for k in (1, 2, 3)))
    return parse_ascii(f"boot:none:{BOOT_SIZE}:ext3:sda{n + 1}:none")


def prepare_tree(vbrs: list[Vbr], images, boot: bool, key: str | None, out: str | None, in_work: bool) -> Artifact:
    """The disk artifact (the sentinel's first dep is what the original returns)."""
    if boot:
        vbrs = vbrs + [boot_vbr(vbrs)]
    vm = parse_vbrs(vbrs)
    kernel = ramdisk = None
    if vm.kernel is not None:
        kernel = alloc_vbr(vm.kernel, images, False, True, None, {})
    if vm.ramdisk is not None:
        ramdisk = alloc_vbr(vm.ramdisk, images, False, True, None, {})
    if boot and (kernel is None or ramdisk is None):
        raise VbrError("boot=yes needs a kernel and a ramdisk VBR")
    parts: dict[int, Vbr] = {}
    for vbr in vm.vbrs:
        if vbr.type in ("kernel", "ramdisk"):
            continue
        if vbr.device_type != "disk" or vbr.bus != vm.root.bus or vbr.disk_number != vm.root.disk_number:
            raise VbrError(f"VBR '{vbr.ascii}': the imager prepares one disk; {vbr.guest_device} is not on it")
        if vbr.partition_number == 0:
            raise VbrError(f"VBR '{vbr.ascii}': the imager prepares a partitioned disk, not a whole-disk image")
        parts[vbr.partition_number] = vbr
    arts = []
    for number in sorted(parts):
        vbr = parts[number]
        art = alloc_vbr(vbr, images, False, False, key if vbr.type == "machine" else None, {})
        if vbr.type == "boot":
            art = boot_partition(art, kernel, ramdisk)
        arts.append(art)
    disk = alloc_disk(arts, {})
    disk.bootable = boot
    if out:
        disk.id = out
    # an imager's results may live in the cache (the work store is emptied when it exits), unless work=yes
    disk.may_be_cached = not in_work
    if in_work:
        for art in disk.walk():
            if art.creator in ("copy", "boot", "disk"):
                art.may_be_cached = False
    return disk


def boot_partition(empty: Artifact, kernel: Artifact, ramdisk: Artifact) -> Artifact:
    sig = f"{empty.sig}BOOT\n{kernel.sig}\n{ramdisk.sig}\n\n"
    return Artifact(f"boot-{hexjenkins(sig)}", sig, empty.size_bytes, "boot", empty.vbr, may_be_cached=True,
                    deps=[empty, kernel, ramdisk])
