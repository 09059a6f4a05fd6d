"""Prerequisites a scenario can declare (`requires:`), checked before it runs, so a machine without them says
which one is missing and how to get it instead of failing half-way."""
from __future__ import annotations

import importlib.util
import os
import shutil


def _node_image() -> str:
    from harness.nodes.build import DEFAULT_DIR
    for name in ("vmlinuz", "initrd.img", ".done-image"):
        if not os.path.exists(os.path.join(DEFAULT_DIR, name)):
            return f"needs the node image's kernel and initrd ({DEFAULT_DIR}/{name} is missing: nc-harness node build)"
    return ""


def _libvirt() -> str:
    if importlib.util.find_spec("libvirt") is None:
        return "needs libvirt's Python binding (pip install -e '.[realnode]')"
    if shutil.which("qemu-system-x86_64") is None:
        return "needs qemu-system-x86_64 (apt-get install qemu-system-x86)"
    from harness.nodes.bootcheck import libvirtd_listening
    if not libvirtd_listening() and (shutil.which("libvirtd") is None or os.geteuid() != 0):
        # as root the boot check starts an installed daemon itself (bootcheck.ensure_libvirtd)
        return "needs a running libvirt daemon (apt-get install libvirt-daemon-system, then start libvirtd)"
    return ""


def _long_run() -> str:
    if os.environ.get("NC_SLOW_SCENARIOS") == "1":
        return ""
    return ("a long run (minutes: gigabytes through gzip, AES and the S3 server); NC_SLOW_SCENARIOS=1 runs it")


CHECKS = {"node-image": _node_image, "libvirt": _libvirt, "long-run": _long_run}


def unmet(requires: list[str]) -> str:
    for name in requires:
        reason = CHECKS[name]()
        if reason:
            return reason
    return ""
