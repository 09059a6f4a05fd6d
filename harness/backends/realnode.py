"""What every real node needs between the engine and its kernel: udev settled after a command that changes
block devices (a real node runs udev, whose probes of a new device can hold it for a moment), and a bounded,
recorded retry of a removal that failed only because such a probe still held the device.

The engine keeps the original's own single retry; these retries are the harness's and are listed in the
run's log (`retried: ...`), so a busy device that stays busy still fails exactly as it would on the node."""
from __future__ import annotations

import os
import time

from hostapi import CommandResult, Host

DEVICE_TOOLS = ("dmsetup", "losetup", "parted", "kpartx", "mkfs", "mkswap", "tune2fs", "mount", "umount")
BUSY = "Device or resource busy"
RETRIES = 3
RETRY_DELAY = 0.25


# what only lists devices: udev has nothing to settle after it (`losetup DEV`, `losetup -a`, `dmsetup table`...)
QUERIES = {"losetup": ("-a", "--list", "-l", "-j"),
           "dmsetup": ("table", "ls", "info", "status", "deps", "version", "targets", "udevcookies")}


def changes_devices(argv: list[str]) -> bool:
    tool = os.path.basename(argv[0]) if argv else ""
    if tool in ("bash", "sh") and len(argv) >= 3 and argv[1] == "-c":
        return any(t in argv[2] for t in DEVICE_TOOLS)
    if tool == "losetup" and len(argv) == 2 and argv[1].startswith("/dev/"):
        return False
    if tool in QUERIES and len(argv) >= 2 and argv[1] in QUERIES[tool]:
        return False
    return tool.startswith(DEVICE_TOOLS)


def is_removal(argv: list[str]) -> bool:
    tool = os.path.basename(argv[0]) if argv else ""
    return (tool == "dmsetup" and "remove" in argv[1:2]) or (tool == "losetup" and "-d" in argv[1:2])


class RealNodeHost(Host):
    """Subclasses implement `run_raw`; `run` adds the settling and the retries."""

    settle_argv = ["udevadm", "settle", "--timeout=10"]

    def __init__(self):
        self.retries: list[str] = []

    def run_raw(self, argv: list[str], stdin: str | None = None) -> CommandResult:
        raise NotImplementedError

    def run(self, argv, stdin=None):
        argv = list(argv)
        result = self.run_raw(argv, stdin)
        if not changes_devices(argv):
            return result
        self.run_raw(self.settle_argv)
        tries = 0
        while result.rc != 0 and BUSY in result.stderr and is_removal(argv) and tries < RETRIES:
            tries += 1
            time.sleep(RETRY_DELAY)
            result = self.run_raw(argv, stdin)
            self.run_raw(self.settle_argv)
        if tries:
            outcome = "then succeeded" if result.rc == 0 else "still busy"
            self.retries.append(f"retried: {' '.join(argv)}: busy, {tries} more time(s), {outcome}")
        return result
