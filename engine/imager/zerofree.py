"""Zero an ext2/3 image's free blocks before bundling (seed 001: "this allows for the images to be more easily
compressed"), and measure what it buys: the gzip size of the image before and after, as a bundle compresses it."""
from __future__ import annotations

import zlib

from engine.nodeio import NodeIO
from engine.sources import read_chunks

from .mounts import ImageToolError, require_image


def gzip_size(io: NodeIO, path: str) -> int:
    """Bytes of `gzip -6` of the node file, streamed through the host interface a MiB at a time."""
    size = io.stat([path]).get(path, (0, 0))[0]
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    total = 0
    for chunk in read_chunks(io.quiet, path, size):
        total += len(packer.compress(chunk))
    return total + len(packer.flush())


def zero_free(io: NodeIO, image: str) -> tuple[int, int]:
    """Runs Debian's `zerofree IMAGE` on the node; returns the gzip sizes before and after."""
    require_image(io, image)
    before = gzip_size(io, image)
    result = io.cmd(["zerofree", image], check=False)
    if result.rc != 0:
        raise ImageToolError(f"{image}: zerofree failed: {(result.stderr or result.stdout).strip()}")
    return before, gzip_size(io, image)
