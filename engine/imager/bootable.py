"""The boot partition's contents (eucalyptus-nc.md 4.9, 5.2): the kernel as /boot/euca-vmlinuz, the ramdisk as
/boot/euca-initrd, and GRUB's configuration for both generations (grub 1's menu.lst and grub.conf, grub 2's
grub.cfg), the root being /dev/sda1 and the boot partition the disk's last one; then, once the disk is
assembled, GRUB 2 in its MBR as the 3.x disk creator does it."""
from __future__ import annotations

from engine import diskutil
from engine.blobstore.clone import clone_whole
from engine.keyinject import resolve_in_root


def grub_files(boot_index: int) -> dict[str, str]:
    """boot_index: the boot partition's 0-based index in the partition table."""
    legacy = ("default=0\ntimeout=2\n\ntitle TheOS\n"
              f"root (hd0,{boot_index})\nkernel /boot/euca-vmlinuz root=/dev/sda1 ro\ninitrd /boot/euca-initrd\n")
    grub2 = ("set default=0\nset timeout=2\ninsmod part_msdos\ninsmod ext2\n"
             f"set root='(hd0,{boot_index + 1})'\n"
             "menuentry 'TheOS' --class os {\n  linux /boot/euca-vmlinuz root=/dev/sda1 ro\n"
             "  initrd /boot/euca-initrd\n}\n")
    return {"boot/grub/menu.lst": legacy, "boot/grub/grub.conf": legacy, "boot/grub/grub.cfg": grub2}


def boot_creator(ctx, art) -> None:
    """A snapshot (or copy) of the cached empty ext3 partition, then the files installed through a mount."""
    bb = art.bb
    empty, kernel, ramdisk = art.deps
    if empty.bb is not bb:
        clone_whole(bb, empty.bb)
    io = ctx.io
    with diskutil.mounted(io, bb.device, f"/tmp/euca-mount-{ctx.token(6)}") as mnt:
        io.cmd(["/bin/mkdir", "-p", resolve_in_root(io, mnt, "boot/grub")])
        io.cmd(["/bin/cp", kernel.bb.blocks_path, resolve_in_root(io, mnt, "boot/euca-vmlinuz")])
        io.cmd(["/bin/cp", ramdisk.bb.blocks_path, resolve_in_root(io, mnt, "boot/euca-initrd")])
        for rel, text in grub_files(art.vbr.partition_number - 1).items():
            io.write(resolve_in_root(io, mnt, rel), text)
        io.cmd(["/bin/sync"])


def install_grub(ctx, disk_device: str, boot_number: int) -> None:
    """Section 5.2's steps after the partition table: the boot partition's device (libparted's NAMEpN or NAMEN)
    attached to a loop device (the original's grub-probe workaround) and mounted, `boot/grub/device.map` naming
    the disk as (hd0), sync and a suspend/resume of the partition and the disk (blockblob_sync), grub-install
    into the disk's MBR, a second's pause, then unmount and detach on every path."""
    io = ctx.io
    part = next((p for p in (f"{disk_device}p{boot_number}", f"{disk_device}{boot_number}") if io.exists(p)), None)
    if part is None:
        raise diskutil.CommandError(f"find the boot partition {boot_number} of {disk_device}", 1,
                                    "no partition device")
    loop = diskutil.loop_attach(io, part)
    try:
        with diskutil.mounted(io, loop, f"/tmp/euca-mount-{ctx.token(6)}") as mnt:
            io.write(resolve_in_root(io, mnt, "boot/grub/device.map"), f"(hd0) {disk_device}\n")
            io.cmd(["/bin/sync"])
            for dev in (part, disk_device):
                name = dev.rsplit("/", 1)[1]
                io.cmd([diskutil.DMSETUP, "suspend", name])
                io.cmd([diskutil.DMSETUP, "resume", name])
            io.cmd(["grub-install", "--modules=part_msdos ext2", f"--root-directory={mnt}", "(hd0)"])
            io.clock.sleep(1)
    finally:
        diskutil.loop_detach(io, loop)
