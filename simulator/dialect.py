"""Userland/kernel generations the simulator can impersonate."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    losetup_format: str        # "old" (util-linux 2.17: [%04x], 63-char name + '*') or "new" (2.38)
    loop_order: str            # "numeric" or "kernfs"
    dm_listing: str            # "hash" (2.6.32) or "sorted" (6.x rb-tree)
    busy_detach_autoclear: bool  # kernel >= 3.7: LOOP_CLR_FD on a held loop defers with autoclear
    initial_loops: int         # loop nodes present at boot
    dm_ioctl_names_device: bool  # "ioctl on NAME " in libdm error messages
    e2fsprogs: str
    util_linux: str
    parted: str
    coreutils: str
    dm_concise: bool = False   # `dmsetup create --concise` (lvm2 >= 2.02.178)
    busybox: bool = False      # busybox 1.35 (Debian's busybox-static, as our real nodes carry) on PATH


DIALECTS = {
    "debian12": Dialect("debian12", "new", "kernfs", "sorted", True, 8, True,
                        "1.47.0 (5-Feb-2023)", "2.38.1", "3.5", "9.1", True, True),
    "el6": Dialect("el6", "old", "numeric", "hash", False, 256, False,
                   "1.41.12 (17-May-2010)", "2.17.2", "2.1", "8.4"),
}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown dialect '{name}' (choose from: {', '.join(sorted(DIALECTS))})") from None
