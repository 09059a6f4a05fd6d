"""`nc-harness node build [--dir DIR]`: a node image from Debian packages only. Idempotent and resumable: each
step leaves a `.done-STEP` marker and is skipped when its marker exists."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile

from harness.errors import HarnessError
from harness.nodes import guest, initrd

DEFAULT_DIR = os.environ.get("NC_NODE_DIR") or os.path.expanduser("~/.cache/nc-harness/node")
SUITE = "bookworm"
PACKAGES = ["udev", "dmsetup", "kpartx", "parted", "e2fsprogs", "util-linux", "kmod", "procps", "openssh-server",
            "locales", "iproute2", "less", "zerofree", "grub-pc-bin", "grub2-common"]
ROOTFS_SIZE = "2G"
# Debian-kernel modules the QEMU and Vagrant nodes load (UML has its own module tree)
NODE_MODULES = initrd.ROOT_MODULES + ["dm-mod", "dm-snapshot", "dm-zero", "loop", "virtio_net", "9p", "9pnet_virtio"]
# Debian packages unpacked into the root filesystem as they are (no maintainer scripts): busybox for the
# initrd and DHCP, sudo for Vagrant's user
EXTRA_DEBS = ["busybox-static", "sudo"]
VAGRANT_KEY = "/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant.pub"
BOX_NAME = "nc-harness-node"
LIBVIRT_BOOT_DIR = "/var/lib/libvirt/boot"


class BuildError(HarnessError):
    pass


def mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    for path in ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]:
        if os.path.exists(path):
            for line in open(path):
                line = line.strip()
                if line.startswith("URIs:"):
                    return line.split()[1]
                if line.startswith("deb ") and "security" not in line:
                    return line.split()[1] if not line.split()[1].startswith("[") else line.split()[2]
    return "http://deb.debian.org/debian"


def _run(argv, log, **kw):
    log(" ".join(argv))
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BuildError(f"{argv[0]} failed (rc={proc.returncode}): {' | '.join(tail)}")
    return proc


def build(directory: str = DEFAULT_DIR, log=lambda msg: print(msg, file=sys.stderr, flush=True),
          box: bool = False) -> str:
    """Every step leaves a marker; a step that runs makes every later step run again (they consume its output)."""
    if os.geteuid() != 0:
        raise BuildError("building a node image needs root (debootstrap, chroot)")
    needed = ["debootstrap", "dpkg-deb", "mkfs.ext4", "depmod", "apt-get"] + (["qemu-img", "vagrant"] if box else [])
    for tool in needed:
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed (apt-get install debootstrap e2fsprogs kmod"
                             + (" qemu-utils vagrant vagrant-libvirt" if box else "") + ")")
    os.makedirs(directory, exist_ok=True)
    rootfs = os.path.join(directory, "rootfs")
    steps = [("debootstrap", lambda: _debootstrap(rootfs, log)),
             ("uml", lambda: _uml(directory, rootfs, log)),
             ("qemu", lambda: _qemu(directory, rootfs, log)),
             ("configure", lambda: _configure(rootfs, log)),
             ("image", lambda: _image(directory, rootfs, log))]
    if box:
        if not _has_vagrant_user(rootfs):   # an image built before Vagrant was installed lacks its key
            _unmark(directory, "configure")
        if not _box_installed():            # a cached image directory on a machine that never added the box
            _unmark(directory, "box")
        steps.append(("box", lambda: _box(directory, log)))
    # a marker holds what its step was made from: a cached image whose package list differs is rebuilt
    made_from = {"debootstrap": ",".join(PACKAGES), "configure": _guest_digest()}
    stale = False
    for n, (name, action) in enumerate(steps, 1):
        marker = os.path.join(directory, f".done-{name}")
        if os.path.exists(marker) and not stale and _marker_text(marker) == made_from.get(name, ""):
            log(f"[{n}/{len(steps)}] {name}: done already")
            continue
        log(f"[{n}/{len(steps)}] {name} ...")
        if os.path.exists(marker):
            os.unlink(marker)
        action()
        with open(marker, "w") as fh:
            fh.write(made_from.get(name, ""))
        stale = True
    return directory


def _guest_digest() -> str:
    """What the configure step installs: an image made with other guest scripts is configured again."""
    import hashlib
    text = "".join(getattr(guest, name) for name in sorted(dir(guest)) if name.isupper()
                   and isinstance(getattr(guest, name), str))
    return "guest " + hashlib.sha256(text.encode()).hexdigest()[:16]


def _marker_text(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _unmark(directory: str, step: str) -> None:
    marker = os.path.join(directory, f".done-{step}")
    if os.path.exists(marker):
        os.unlink(marker)


def _debootstrap(rootfs: str, log) -> None:
    if os.path.exists(rootfs):
        shutil.rmtree(rootfs)   # an interrupted debootstrap cannot be resumed reliably
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, rootfs, mirror()], log)


def _uml(directory: str, rootfs: str, log) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        deb = _download(["user-mode-linux"], tmp, log)[0]
        unpack = os.path.join(tmp, "x")
        _run(["dpkg-deb", "-x", deb, unpack], log)
        shutil.copy(os.path.join(unpack, "usr/bin/linux.uml"), os.path.join(directory, "linux.uml"))
        modules = glob.glob(os.path.join(unpack, "usr/lib/uml/modules/*"))[0]
        version = os.path.basename(modules)
        target = os.path.join(rootfs, "lib/modules", version)
        if os.path.exists(target):
            shutil.rmtree(target)
        shutil.copytree(modules, target)
        _run(["depmod", "-b", rootfs, version], log)
        with open(os.path.join(directory, "kernel-version"), "w") as fh:
            fh.write(version + "\n")


def _download(names: list[str], cwd: str, log) -> list[str]:
    try:
        _run(["apt-get", "download", *names], log, cwd=cwd)
    except BuildError:   # a clean machine may not have package lists yet
        _run(["apt-get", "update", "-qq"], log)
        _run(["apt-get", "download", *names], log, cwd=cwd)
    return [glob.glob(os.path.join(cwd, f"{name}_*.deb"))[0] for name in names]


def _unpack_into(deb: str, rootfs: str, log) -> None:
    """`dpkg-deb -x` would replace the merged-/usr symlinks (/bin, /lib) with real directories; tar can keep them."""
    log(f"unpack {os.path.basename(deb)} into {rootfs}")
    data = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    _run(["tar", "-x", "--keep-directory-symlink", "-C", rootfs], log, stdin=data.stdout)
    data.stdout.close()
    if data.wait() != 0:
        raise BuildError(f"dpkg-deb --fsys-tarfile {deb} failed")


def _kernel_package(log) -> str:
    """The versioned package behind Debian's linux-image-amd64 (e.g. linux-image-6.1.0-56-amd64)."""
    out = _run(["apt-cache", "depends", "linux-image-amd64"], log).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split()[1]
    raise BuildError("apt-cache depends linux-image-amd64 names no kernel package")


def _qemu(directory: str, rootfs: str, log) -> None:
    """Debian's kernel for QEMU and Vagrant nodes (and the boot check's EKI), only the modules a node needs in
    the root filesystem, busybox and sudo unpacked into it, and the small initrd (the boot check's ERI)."""
    with tempfile.TemporaryDirectory() as tmp:
        kpkg = _kernel_package(log)
        debs = _download([kpkg, *EXTRA_DEBS], tmp, log)
        unpack = os.path.join(tmp, "kernel")
        _run(["dpkg-deb", "-x", debs[0], unpack], log)
        for deb in debs[1:]:
            _unpack_into(deb, rootfs, log)
        version = os.path.basename(glob.glob(os.path.join(unpack, "lib/modules/*"))[0])
        src = os.path.join(unpack, "lib/modules", version)
        _run(["depmod", "-b", unpack, version], log)   # the package leaves modules.dep to its postinst
        dst = os.path.join(rootfs, "lib/modules", version)
        if os.path.exists(dst):
            shutil.rmtree(dst)
        for rel in initrd.module_closure(src, NODE_MODULES):
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            shutil.copy(os.path.join(src, rel), os.path.join(dst, rel))
        for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            if os.path.exists(os.path.join(src, name)):
                shutil.copy(os.path.join(src, name), os.path.join(dst, name))
        _run(["depmod", "-b", rootfs, version], log)
        shutil.copy(os.path.join(unpack, "boot", f"vmlinuz-{version}"), os.path.join(directory, "vmlinuz"))
        order = initrd.write_initrd(os.path.join(directory, "initrd.img"), os.path.join(rootfs, "bin/busybox"), src)
        for name in ("vmlinuz", "initrd.img"):
            # whole 4 KiB pages, so that as an EKI/ERI the NC copies it with dd bs=4096, not bs=64 (the zeros
            # after a bzImage or a cpio archive are ignored by the loader and the kernel)
            path = os.path.join(directory, name)
            with open(path, "r+b") as fh:
                fh.truncate(-(-os.path.getsize(path) // 4096) * 4096)
        log(f"initrd.img: busybox and {len(order)} modules for {version}")
        with open(os.path.join(directory, "qemu-kernel-version"), "w") as fh:
            fh.write(version + "\n")


def _has_vagrant_user(rootfs: str) -> bool:
    return os.path.exists(os.path.join(rootfs, "home/vagrant/.ssh/authorized_keys"))


def _box_installed() -> bool:
    boxes = subprocess.run(["vagrant", "box", "list"], capture_output=True, text=True).stdout.split("\n")
    return any(line.split(" ")[0] == BOX_NAME for line in boxes) and \
        os.path.exists(os.path.join(LIBVIRT_BOOT_DIR, f"{BOX_NAME}-vmlinuz"))


def _box(directory: str, log) -> None:
    """The same image as a Vagrant libvirt box (qcow2, direct kernel boot: no bootloader), added as
    `nc-harness-node`."""
    boxdir = os.path.join(directory, "box")
    if os.path.exists(boxdir):
        shutil.rmtree(boxdir)
    os.makedirs(boxdir)
    _run(["qemu-img", "convert", "-O", "qcow2", os.path.join(directory, "rootfs.img"),
          os.path.join(boxdir, "box.img")], log)
    _write(os.path.join(boxdir, "metadata.json"), '{"provider": "libvirt", "format": "qcow2", "virtual_size": 2}\n')
    # libvirt's qemu runs as its own user, which cannot read a kernel under /root: the box boots copies kept
    # where libvirt keeps boot images
    os.makedirs(LIBVIRT_BOOT_DIR, mode=0o755, exist_ok=True)
    for name in ("vmlinuz", "initrd.img"):
        shutil.copy(os.path.join(directory, name), os.path.join(LIBVIRT_BOOT_DIR, f"{BOX_NAME}-{name}"))
        os.chmod(os.path.join(LIBVIRT_BOOT_DIR, f"{BOX_NAME}-{name}"), 0o644)
    _write(os.path.join(boxdir, "Vagrantfile"), guest.box_vagrantfile(LIBVIRT_BOOT_DIR, BOX_NAME))
    box = os.path.join(directory, f"{BOX_NAME}.box")
    _run(["tar", "cf", box, "-C", boxdir, "metadata.json", "Vagrantfile", "box.img"], log)
    _run(["vagrant", "box", "add", "--force", "--name", BOX_NAME, box], log)
    shutil.rmtree(boxdir)


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def _configure(rootfs: str, log) -> None:
    _write(os.path.join(rootfs, "usr/local/sbin/realnode-run"), guest.REALNODE_RUN, 0o755)
    _write(os.path.join(rootfs, "usr/local/sbin/realnode-serve"), guest.REALNODE_SERVE, 0o755)
    _write(os.path.join(rootfs, "usr/local/sbin/realnode-dhcp"), guest.REALNODE_DHCP, 0o755)
    _write(os.path.join(rootfs, "etc/modprobe.d/realnode-dm.conf"), guest.MODPROBE_DM)
    _write(os.path.join(rootfs, "etc/fstab"), guest.FSTAB)
    _write(os.path.join(rootfs, "etc/hostname"), "realnode\n")
    if os.path.exists(VAGRANT_KEY):
        # Vagrant's user: its well-known insecure key (Vagrant swaps it on first `up`), password-less sudo
        if not os.path.exists(os.path.join(rootfs, "home/vagrant")):
            _run(["chroot", rootfs, "/usr/sbin/useradd", "--create-home", "--shell", "/bin/bash", "vagrant"], log)
        _write(os.path.join(rootfs, "home/vagrant/.ssh/authorized_keys"), open(VAGRANT_KEY).read(), 0o600)
        _write(os.path.join(rootfs, "etc/sudoers.d/vagrant"), "vagrant ALL=(ALL) NOPASSWD: ALL\n", 0o440)
        _run(["chroot", rootfs, "/bin/chown", "-R", "vagrant:vagrant", "/home/vagrant"], log)
        os.chmod(os.path.join(rootfs, "home/vagrant/.ssh"), 0o700)


def _image(directory: str, rootfs: str, log) -> None:
    image = os.path.join(directory, "rootfs.img")
    tmp = image + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    with open(tmp, "wb") as fh:
        fh.truncate(2 * 1024 ** 3)
    _run(["mkfs.ext4", "-q", "-F", "-L", "realroot", "-d", rootfs, tmp], log)
    os.replace(tmp, image)
