"""lvm2-style leak check after a scenario: what the engine left on the node that nothing accounts for.

A loop or dm device is a leak when no blob's metadata claims it; a mount is a leak when it is a stale
key-injection mount; a work directory is a leak when its instance is not running. Devices and loops
named in `allowed` (regexes) are not reported, for scenarios that end with state on purpose.
"""
from __future__ import annotations

import re

from engine.controller import NodeController

from .state import parse_dmsetup_ls, parse_losetup


def find_leaks(host, nc: NodeController, allowed: list[str] | None = None) -> list[str]:
    allowed_re = [re.compile(a) for a in allowed or []]
    io = nc.io
    stores = [s for s in (nc.work, nc.cache) if s is not None]
    claimed_dm, claimed_loops = set(), set()
    for store in stores:
        for blob_id in store.ids():
            claimed_dm.update(store.read_lines(blob_id, "dm"))
            loop = io.read(store.path_of(blob_id, "loopback"))
            if loop:
                claimed_loops.add(loop)
    # parted/kpartx name a device's partitions NAMEpN or NAMEN: those belong to the claimed device
    claimed_dm |= {f"{c}{p}{i}" for c in list(claimed_dm) for p in ("p", "") for i in range(1, 10)}
    leaks = []
    for name in sorted(parse_dmsetup_ls(host.run(["dmsetup", "ls"]).stdout).values()):
        if not name.startswith("euca-") or name == "euca-zero" or name in claimed_dm:
            continue
        leaks.append(f"dm device {name}")
    base = nc.config.instances_path.rstrip("/") + "/"
    for loop in parse_losetup(host.run(["losetup", "-a"]).stdout).values():
        if loop.backing.rstrip("*").startswith(base.rstrip("/")) and loop.device not in claimed_loops:
            leaks.append(f"loop {loop.device} on {loop.backing}")
    for line in host.run(["mount"]).stdout.splitlines():
        target = line.split(" on ", 1)[1].split(" ", 1)[0] if " on " in line else ""
        if target.startswith("/tmp/euca-mount-"):
            leaks.append(f"mount {target}")
    running = {(i.user, i.id) for i in nc.instances.values()}
    for user in io.listdir(nc.work.path):
        if not io.is_dir(f"{nc.work.path}/{user}"):
            continue
        for inst in io.listdir(f"{nc.work.path}/{user}"):
            if (user, inst) not in running:
                leaks.append(f"work files of {user}/{inst}")
    return [leak for leak in leaks if not any(r.search(leak) for r in allowed_re)]
