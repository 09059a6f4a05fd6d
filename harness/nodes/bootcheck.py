"""Boot check: does the disk the engine built boot?

After a run, the instance's kernel, ramdisk and disk (its `link-to-kernel`, `link-to-ramdisk` and `link-to-sda`)
are read off the node through the host interface, a libvirt domain is defined from them as NC 3.x's
`libvirt.xsl` renders one for KVM with a virtio root, and started. The check passes when the guest's console
shows the kernel mounting its root filesystem from the disk's first partition.

The domain type is `kvm` where /dev/kvm can run this guest and `qemu` (TCG) otherwise; this machine's KVM is
PVM, which runs no stock kernel, so here it is always `qemu`. With no libvirt daemon at hand the check says so
and fails: a test driver (`test:///default`) could only show that the XML is well formed, not that it boots.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from harness.errors import HarnessError

DEFAULT_URI = os.environ.get("NC_LIBVIRT_URI", "qemu:///system")
# what a guest kernel says when it has its root filesystem (the kernel's own line, then our initrd's)
ROOT_MOUNTED = [r"EXT4-fs \(vda1\): mounted filesystem", r"nc-harness initrd: mounted /dev/vda1 on /"]


class BootCheckError(HarnessError):
    pass


@dataclass
class BootResult:
    uri: str
    domain_type: str
    console: str
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing

    def line(self) -> str:
        how = f"libvirt {self.uri}, domain type {self.domain_type}"
        if self.ok:
            return f"booted in {self.seconds:.1f} s ({how}): " + "; ".join(self.matched)
        last = [ln for ln in self.console.splitlines() if ln.strip()][-3:]
        return f"did not boot within {self.seconds:.0f} s ({how}): no {self.missing[0]!r}; console ends " + \
            " | ".join(last)


def libvirt_xml(name: str, kernel: str, ramdisk: str, disk: str, console_log: str, domain_type: str = "qemu",
                memory_kb: int = 262144, cores: int = 1, disk_source: str = "file") -> str:
    """The domain NC 3.x's libvirt.xsl makes for a Linux instance on KVM with `virtioRoot`: direct kernel boot,
    `root=/dev/vda1 console=ttyS0`, the disk's `sda` renamed `vda` on the virtio bus, and the console into a
    file. One difference: the serial port is 0, where the template says 1; libvirt 9 makes port 1 the guest's
    ttyS1, and the template's own `console=ttyS0` would then write nowhere."""
    src = f"file='{escape(disk)}'" if disk_source == "file" else f"dev='{escape(disk)}'"
    return f"""<domain type='{domain_type}'>
  <name>{escape(name)}</name>
  <description>Eucalyptus instance {escape(name)}</description>
  <os>
    <type>hvm</type>
    <initrd>{escape(ramdisk)}</initrd>
    <kernel>{escape(kernel)}</kernel>
    <cmdline>root=/dev/vda1 console=ttyS0</cmdline>
  </os>
  <features><acpi/></features>
  <clock offset='localtime'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <vcpu>{cores}</vcpu>
  <memory>{memory_kb}</memory>
  <devices>
    <disk device='disk' type='{disk_source}'>
      <source {src}/>
      <target bus='virtio' dev='vda'/>
    </disk>
    <serial type='file'>
      <source path='{escape(console_log)}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""


def export_instance(host, instance_dir: str, out_dir: str) -> dict[str, str]:
    """Copy the instance's kernel, ramdisk and disk off the node into `out_dir` (through the host interface, so
    the same on the simulator and a real node). Returns their paths by link name."""
    paths = {}
    for link in ("kernel", "ramdisk", "sda"):
        target = host.run(["readlink", "-f", f"{instance_dir}/link-to-{link}"])
        if target.rc != 0 or not target.stdout.strip():
            raise BootCheckError(f"{instance_dir}/link-to-{link}: {target.stderr.strip() or 'no such link'}")
        data = host.run(["dd", f"if={target.stdout.strip()}", "bs=1M", "status=none"])
        if data.rc != 0:
            raise BootCheckError(f"reading {target.stdout.strip()}: {data.stderr.strip()}")
        path = os.path.join(out_dir, {"sda": "disk.img"}.get(link, link))
        with open(path, "wb") as fh:
            fh.write(data.stdout.encode("utf-8", "surrogateescape"))
        os.chmod(path, 0o644)     # qemu runs as libvirt's own user
        paths[link] = path
    os.chmod(out_dir, 0o755)
    return paths


def kvm_usable() -> bool:
    """Not the device's presence: this host's /dev/kvm (PVM) opens, then hangs every stock guest."""
    return os.environ.get("NC_LIBVIRT_DOMAIN_TYPE") == "kvm"


LIBVIRT_SOCKET = "/run/libvirt/libvirt-sock"


def libvirtd_listening(path: str = LIBVIRT_SOCKET) -> bool:
    """A daemon that died (or a machine restarted without /run being cleared) leaves its socket file behind:
    only a connection tells a live daemon from a stale socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def ensure_libvirtd(uri: str = DEFAULT_URI) -> None:
    """Start virtlogd and libvirtd when this is root on a machine without a running system daemon (no systemd
    here): they are ordinary processes, left running for later checks."""
    if uri != "qemu:///system" or libvirtd_listening():
        return
    if os.geteuid() != 0 or shutil.which("libvirtd") is None:
        raise BootCheckError(f"no libvirt daemon listens on {LIBVIRT_SOCKET} "
                             "(apt-get install libvirt-daemon-system qemu-system-x86, then start libvirtd)")
    for argv in (["virtlogd", "-d"], ["libvirtd", "-d"]):
        subprocess.run(argv, capture_output=True)
    for _ in range(100):
        if libvirtd_listening():
            return
        time.sleep(0.1)
    raise BootCheckError(f"libvirtd did not come up (nothing listens on {LIBVIRT_SOCKET} after 10 s)")


def boot(name: str, artifacts: dict[str, str], work_dir: str, patterns: list[str] | None = None,
         timeout: float = 180.0, uri: str = DEFAULT_URI) -> BootResult:
    try:
        import libvirt
    except ImportError:
        raise BootCheckError("the libvirt Python binding is missing (pip install 'nc-harness[realnode]')") from None
    patterns = patterns or ROOT_MOUNTED
    ensure_libvirtd(uri)
    domain_type = "kvm" if kvm_usable() else "qemu"
    console = os.path.join(work_dir, "console.log")
    xml = libvirt_xml(name, artifacts["kernel"], artifacts["ramdisk"], artifacts["sda"], console, domain_type)
    with open(os.path.join(work_dir, "instance-libvirt.xml"), "w") as fh:
        fh.write(xml)
    libvirt.registerErrorHandler(lambda *_: None, None)   # errors arrive as exceptions; keep stderr clean
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise BootCheckError(f"cannot connect to {uri}: {exc}") from None
    start = time.monotonic()
    dom = None
    try:
        old = _lookup(conn, name)
        if old is not None:   # a domain a crashed check left behind
            _remove(old)
        dom = conn.defineXML(xml)
        dom.create()
        text = ""
        while True:
            text = open(console, errors="replace").read().replace("\r", "") if os.path.exists(console) else ""
            missing = [p for p in patterns if not re.search(p, text, re.M)]
            if not missing or not dom.isActive() or time.monotonic() - start > timeout:
                break
            time.sleep(0.5)
        matched = [m.group(0) for p in patterns if (m := re.search(p, text, re.M))]
        return BootResult(uri, domain_type, text, matched, missing, time.monotonic() - start)
    except libvirt.libvirtError as exc:
        raise BootCheckError(f"libvirt: {exc}") from None
    finally:
        if dom is not None:
            _remove(dom)
        conn.close()


def _lookup(conn, name: str):
    import libvirt
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError:
        return None


def _remove(dom) -> None:
    """Stop and forget the domain. The guest may power itself off between the two calls (our initrd does,
    right after its last line), so a failed destroy must not keep the undefine from running."""
    import libvirt
    try:
        if dom.isActive():
            dom.destroy()
    except libvirt.libvirtError:
        pass
    try:
        dom.undefine()
    except libvirt.libvirtError:
        pass
