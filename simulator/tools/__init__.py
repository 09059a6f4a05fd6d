"""Command-line tools of the simulated node, one module per tool; `TOOLS` maps a basename to its handler."""
from __future__ import annotations

from .base import TOOLS, Abort, Result, not_found, tool

__all__ = ["TOOLS", "Abort", "Result", "load_all", "not_found", "tool"]


def load_all() -> dict:
    from . import (  # noqa: F401
        busybox,
        coreutils,
        cp,
        dd,
        dmsetup,
        fileutils,
        grub,
        kill,
        kpartx,
        losetup,
        mkfs,
        mount,
        parted,
        tune2fs,
        uname,
        virsh,
        zerofree,
    )
    return TOOLS
