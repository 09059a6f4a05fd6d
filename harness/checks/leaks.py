"""lvm2-style leak check after a scenario: what the engine left on the node that nothing accounts for.

A loop or dm device is a leak when no blob's metadata claims it; a mount is a leak when it is a stale
key-injection mount; a work directory is a leak when its instance is not running. Devices and loops
named in `allowed` (regexes) are not reported, for scenarios that end with state on purpose.
"""
from __future__ import annotations

import re

from engine.controller import NodeController
from engine.diskutil import loop_identity
from engine.recovery import claimed_devices, loops_over
from harness.checks.state import parse_dmsetup_ls, parse_losetup


def find_leaks(host, nc: NodeController, allowed: list[str] | None = None) -> list[str]:
    allowed_re = [re.compile(a) for a in allowed or []]
    io = nc.io
    stores = [s for s in (nc.work, nc.cache) if s is not None]
    claimed_dm, claimed_loops = claimed_devices(stores)
    leaks = []
    for name in sorted(parse_dmsetup_ls(host.run(["dmsetup", "ls"]).stdout).values()):
        if not name.startswith(nc.config.dm_prefix) or name == "euca-zero" or name in claimed_dm:
            continue
        leaks.append(f"dm device {name}")
    # loops over our stores' files, by device and inode as the engine's own sweep finds them: a path prefix
    # misses an instances directory behind a symlink and takes in a sibling whose name extends ours
    listing = host.run(["losetup", "-a"]).stdout
    records = parse_losetup(listing)
    ours = loops_over(stores, [(r.device, r.backing, loop_identity(line))
                               for r, line in zip(records.values(), [x for x in listing.splitlines() if x.strip()])])
    for loop in records.values():
        if loop.device in ours and loop.device not in claimed_loops:
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
