"""`nc-harness node build [--dir DIR]`: a node image from Debian packages only. Idempotent and resumable: each
step leaves a `.done-STEP` marker and is skipped when its marker exists."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile

from . import guest

DEFAULT_DIR = os.environ.get("NC_NODE_DIR") or os.path.expanduser("~/.cache/nc-harness/node")
SUITE = "bookworm"
PACKAGES = ["udev", "dmsetup", "kpartx", "parted", "e2fsprogs", "util-linux", "kmod", "procps", "openssh-server",
            "locales", "iproute2", "less"]
ROOTFS_SIZE = "2G"


class BuildError(Exception):
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


def build(directory: str = DEFAULT_DIR, log=lambda msg: print(msg, file=sys.stderr, flush=True)) -> str:
    if os.geteuid() != 0:
        raise BuildError("building a node image needs root (debootstrap, chroot)")
    for tool in ("debootstrap", "dpkg-deb", "mkfs.ext4", "depmod", "apt-get"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed (apt-get install debootstrap e2fsprogs kmod)")
    os.makedirs(directory, exist_ok=True)
    rootfs = os.path.join(directory, "rootfs")
    steps = [("debootstrap", lambda: _debootstrap(rootfs, log)),
             ("uml", lambda: _uml(directory, rootfs, log)),
             ("configure", lambda: _configure(rootfs)),
             ("image", lambda: _image(directory, rootfs, log))]
    for n, (name, action) in enumerate(steps, 1):
        marker = os.path.join(directory, f".done-{name}")
        if os.path.exists(marker):
            log(f"[{n}/{len(steps)}] {name}: done already")
            continue
        log(f"[{n}/{len(steps)}] {name} ...")
        action()
        open(marker, "w").close()
    return directory


def _debootstrap(rootfs: str, log) -> None:
    if os.path.exists(rootfs):
        shutil.rmtree(rootfs)   # an interrupted debootstrap cannot be resumed reliably
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, rootfs, mirror()], log)


def _uml(directory: str, rootfs: str, log) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _run(["apt-get", "download", "user-mode-linux"], log, cwd=tmp)
        except BuildError:   # a clean machine may not have package lists yet
            _run(["apt-get", "update", "-qq"], log)
            _run(["apt-get", "download", "user-mode-linux"], log, cwd=tmp)
        deb = glob.glob(os.path.join(tmp, "user-mode-linux_*.deb"))[0]
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


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def _configure(rootfs: str) -> None:
    _write(os.path.join(rootfs, "usr/local/sbin/realnode-run"), guest.REALNODE_RUN, 0o755)
    _write(os.path.join(rootfs, "usr/local/sbin/realnode-serve"), guest.REALNODE_SERVE, 0o755)
    _write(os.path.join(rootfs, "etc/modprobe.d/realnode-dm.conf"), guest.MODPROBE_DM)
    _write(os.path.join(rootfs, "etc/fstab"), guest.FSTAB)
    _write(os.path.join(rootfs, "etc/hostname"), "realnode\n")


def _image(directory: str, rootfs: str, log) -> None:
    image = os.path.join(directory, "rootfs.img")
    tmp = image + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    with open(tmp, "wb") as fh:
        fh.truncate(2 * 1024 ** 3)
    _run(["mkfs.ext4", "-q", "-F", "-L", "realroot", "-d", rootfs, tmp], log)
    os.replace(tmp, image)
