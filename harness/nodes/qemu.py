"""Drive a QEMU node: Debian's own kernel (the one a Debian 12 node runs) on TCG `-machine microvm`, the same
root filesystem and command server as the UML node. The exchange directory is shared over virtio-9p and the
console is the serial port on stdio (a FIFO in, a log file out), so everything else is `UmlNode`'s.

Boot to ready takes about 13 s (UML: 5 s), so it is the cross-check, not the default.
"""
from __future__ import annotations

import os
import shutil

from harness.nodes.build import DEFAULT_DIR
from harness.nodes.uml import NodeError, UmlNode


class QemuNode(UmlNode):
    REQUIRED = ("vmlinuz", "initrd.img", "rootfs.img", ".done-image")
    # TCG microvm boots sometimes hang before printing anything (our UML/QEMU node notes saw 1 in 10),
    # and a slow machine may take a minute: 120 s each, three tries
    BOOT_ATTEMPTS = 3

    def __init__(self, directory: str = DEFAULT_DIR, mem: str = "1024", boot_timeout: float = 120.0, **kw):
        super().__init__(directory, mem=mem, boot_timeout=boot_timeout, **kw)
        if kw.get("ssh"):
            raise NodeError("the qemu node is driven over its console; ssh mode is UML's")

    def check_built(self) -> None:
        super().check_built()
        if shutil.which("qemu-system-x86_64") is None:
            raise NodeError("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")

    def launch_argv(self, xchg: str, disk: str) -> list[str]:
        d = self.directory
        # no `quiet`: on a loaded machine a TCG boot can take a minute, and the kernel's lines tell a slow boot
        # from a hung one (and say where it stopped); realnode-serve silences the console before serving
        # lpj: the kernel skips its delay-loop calibration, which waits for timer ticks that a TCG microvm on
        # this host sometimes never delivers early enough (the boot then stalls right after the TSC lines)
        append = ("root=/dev/vda rw console=ttyS0 net.ifnames=0 lpj=4600000 "
                  "init=/usr/local/sbin/realnode-run realnode.9p")
        # -icount: the guest's clock follows the instructions it runs, not the host's. With the host's clock, a
        # boot on a busy host (CI: a UML node on the other core) lost the PIT ticks its TSC and local APIC timer
        # calibrations wait for, and stalled for good before "smpboot: CPU0" (1 boot in 2 here under load;
        # three tries of both QEMU tests in one CI run). sleep=off: an idle guest's clock jumps to its next timer
        # instead of waiting for it (with sleep=on every command took 0.9 s instead of 70 ms). One vCPU: with
        # two, their start-up under icount still stalled now and then; icount needs single-threaded TCG anyway.
        # Measured here with both cores loaded: 4 boots of 4, 13 s each; 70 ms a command, as before.
        return ["qemu-system-x86_64", "-machine", "microvm", "-accel", "tcg,thread=single",
                "-icount", "shift=auto,sleep=off", "-cpu", "qemu64",
                "-smp", "1", "-m", self.mem.rstrip("M"), "-no-reboot",
                "-kernel", os.path.join(d, "vmlinuz"), "-initrd", os.path.join(d, "initrd.img"), "-append", append,
                # the root image is never written: snapshot=on keeps the changes in a temporary file, and without
                # locking a UML node booted from the same image at the same time does not stop this one
                "-drive", f"id=d0,file={d}/rootfs.img,file.locking=off,format=raw,if=none,cache=unsafe,snapshot=on",
                "-device", "virtio-blk-device,drive=d0",
                "-drive", f"id=d1,file={disk},format=raw,if=none,cache=unsafe",
                "-device", "virtio-blk-device,drive=d1",
                "-fsdev", f"local,id=x0,path={xchg},security_model=none",
                "-device", "virtio-9p-device,fsdev=x0,mount_tag=xchg",
                "-display", "none", "-serial", "stdio", "-monitor", "none"]
