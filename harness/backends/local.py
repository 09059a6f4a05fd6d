"""This machine, for real (root)."""
from __future__ import annotations

import os
import subprocess

from hostapi import CommandResult, Host


class LocalHost(Host):
    """Refuses to start where the kernel lacks what the engine needs; the image tools (resize, stamp, zerofree)
    need loop devices and mounts but no device-mapper: `device_mapper=False`."""

    name = "local"
    capabilities = frozenset()

    def __init__(self, check: bool = True, device_mapper: bool = True):
        if check:
            problem = self.missing_feature(device_mapper)
            if problem:
                raise ValueError(f"backend local: {problem}; use --backend uml (a real kernel of our own)")

    @staticmethod
    def missing_feature(device_mapper: bool = True) -> str:
        if os.geteuid() != 0:
            return "needs root (losetup, dmsetup, mount)"
        if device_mapper:
            if not os.path.exists("/dev/mapper/control"):
                return "this kernel has no device-mapper (/dev/mapper/control is missing; modprobe dm_mod)"
            proc = subprocess.run(["dmsetup", "version"], capture_output=True, text=True)
            if proc.returncode != 0 or "Driver version" not in proc.stdout:
                first = (proc.stderr.strip() or "no output").splitlines()[0]
                return f"dmsetup cannot reach the device-mapper driver ({first})"
        if not os.path.exists("/dev/loop-control") and not os.path.exists("/dev/loop0"):
            return "this kernel has no loop devices (modprobe loop)"
        return ""

    def run(self, argv, stdin=None):
        try:
            proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, errors="surrogateescape")
        except FileNotFoundError:   # as a shell reports it: the engine asks for busybox and falls back on 127
            return CommandResult(127, "", f"{argv[0]}: command not found\n")
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)
