"""`/etc/image-id` as the starter images carry it (seed 001): image_name, image_version, image_arch, image_file,
image_stamp (`date +%s | md5sum`, first 8 hex digits as xxxx-xxxx), image_date (%Y%m%d%H%M%S), recipe_name."""
from __future__ import annotations

import hashlib
import os
import re
import time

from engine.keyinject import resolve_in_root
from engine.nodeio import NodeIO

from .mounts import ImageToolError, mounted, require_image

FIELD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+:@-]{0,127}$")


def image_id_text(image: str, name: str, version: str, arch: str, recipe: str, now: float) -> str:
    for label, value in (("name", name), ("version", version), ("arch", arch), ("recipe", recipe)):
        if not FIELD.match(value):
            raise ImageToolError(f"--{label} '{value}': 1-128 letters, digits and . _ + : @ - (a line of its own)")
    digest = hashlib.md5(f"{int(now)}\n".encode()).hexdigest()   # noqa: S324 - an id, as the recipe makes it
    fields = [("image_name", name), ("image_version", version), ("image_arch", arch),
              ("image_file", os.path.basename(image)), ("image_stamp", f"{digest[:4]}-{digest[4:8]}"),
              ("image_date", time.strftime("%Y%m%d%H%M%S", time.gmtime(now))), ("recipe_name", recipe)]
    return "".join(f"{k}={v}\n" for k, v in fields)


def stamp(io: NodeIO, image: str, name: str, version: str, arch: str, recipe: str, token) -> str:
    """Write the file inside the image (no symlink followed out of it); returns what was written."""
    text = image_id_text(image, name, version, arch, recipe, io.clock.now())
    require_image(io, image)
    with mounted(io, image, token) as mnt:
        etc = resolve_in_root(io, mnt, "etc")
        io.cmd(["/bin/mkdir", "-p", etc])
        target = resolve_in_root(io, mnt, "etc/image-id")
        if io.exists(target) and io.quiet(["test", "-f", target], check=False).rc != 0:
            raise ImageToolError(f"{image}: /etc/image-id in the image is not a regular file")
        io.write(target, text)
        io.quiet(["chmod", "0644", target])
    return text
