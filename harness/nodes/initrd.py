"""A small initramfs for Debian's kernel, made from Debian packages without running any of their scripts: a static
busybox, the handful of modules needed to find a virtio disk and mount ext2/3/4 on it, and a 40-line /init.

It boots the QEMU node (root=/dev/vda, then init=realnode-run) and is also the ERI of the boot check, where the
NC-built disk is root=/dev/vda1. It says what it mounted on the console, so the check can see it.
"""
from __future__ import annotations

import os
import stat

# What a virtio-mmio (microvm) or virtio-pci (libvirt pc) guest needs to mount an ext2/3/4 root.
ROOT_MODULES = ["virtio_mmio", "virtio_pci", "virtio_blk", "crc32c_generic", "ext4"]

INIT = r"""#!/bin/busybox sh
# nc-harness initrd: load the disk and filesystem modules, mount root= and switch to init= (default /sbin/init)
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /modules/order); do /bin/busybox insmod "/modules/$m" 2>/dev/null; done
root=/dev/vda; init=/sbin/init; mode=ro
for word in $(/bin/busybox cat /proc/cmdline); do
    case "$word" in
        root=*) root=${word#root=} ;;
        init=*) init=${word#init=} ;;
        rw) mode=rw ;;
    esac
done
n=0
while [ ! -b "$root" ] && [ $n -lt 100 ]; do /bin/busybox sleep 0.1; n=$((n + 1)); done
if ! /bin/busybox mount -t ext4 -o "$mode" "$root" /newroot; then
    echo "nc-harness initrd: cannot mount $root"
    /bin/busybox poweroff -f
fi
echo "nc-harness initrd: mounted $root on / ($mode)"
keys=/newroot/root/.ssh/authorized_keys
[ -f "$keys" ] && echo "nc-harness initrd: /root/.ssh/authorized_keys: $(/bin/busybox head -c 200 "$keys")"
/bin/busybox umount /sys /proc
/bin/busybox mount --move /dev /newroot/dev 2>/dev/null || /bin/busybox umount /dev
if [ -x "/newroot$init" ] || [ -L "/newroot$init" ]; then
    exec /bin/busybox switch_root /newroot "$init"
fi
echo "nc-harness initrd: no $init on $root; powering off"
/bin/busybox poweroff -f
"""


def module_closure(modules_dir: str, wanted: list[str]) -> list[str]:
    """Relative paths of `wanted` modules and everything they depend on, dependencies first (modules.dep)."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    with open(os.path.join(modules_dir, "modules.dep")) as fh:
        for line in fh:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
            name = os.path.basename(path).split(".ko")[0].replace("-", "_")
            by_name[name] = path
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dep in reversed(deps.get(path, [])):   # modules.dep lists the deepest dependency last
            visit(dep)
        order.append(path)

    for name in wanted:
        key = name.replace("-", "_")
        if key not in by_name:
            raise KeyError(f"module {name} not in {modules_dir}/modules.dep")
        visit(by_name[key])
    return order


class CpioWriter:
    """The `newc` format the kernel unpacks: a 110-byte ASCII header, the name, the data, each 4-byte aligned."""

    def __init__(self, fh):
        self.fh, self.ino = fh, 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.fh.write(header + encoded + b"\0" * (-(len(header) + len(encoded)) % 4))
        self.fh.write(data + b"\0" * (-len(data) % 4))
        self.ino += 1

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def close(self) -> None:
        self._entry("TRAILER!!!", 0)


def write_initrd(out_path: str, busybox: str, modules_dir: str, wanted: list[str] = ROOT_MODULES) -> list[str]:
    """Write the initramfs (uncompressed cpio; the kernel takes it as is). Returns the module load order."""
    order = module_closure(modules_dir, wanted)
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as fh:
        cpio = CpioWriter(fh)
        for d in ("bin", "dev", "modules", "proc", "sys", "newroot"):
            cpio.directory(d)
        cpio.chardev("dev/console", 5, 1)   # so /init has a console before devtmpfs is mounted
        cpio.file("init", INIT.encode(), 0o755)
        cpio.file("bin/busybox", open(busybox, "rb").read(), 0o755)
        cpio.symlink("bin/sh", "busybox")
        names = []
        for rel in order:
            name = os.path.basename(rel)
            names.append(name)
            cpio.file(f"modules/{name}", open(os.path.join(modules_dir, rel), "rb").read())
        cpio.file("modules/order", ("\n".join(names) + "\n").encode())
        cpio.close()
    os.replace(tmp, out_path)
    return order
