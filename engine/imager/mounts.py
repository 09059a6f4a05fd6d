"""An image file mounted through a loop device for the image tools, undone on every path (the seeds' hand
procedure: `losetup`, `mount`, ..., `umount`, `losetup -d`)."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager

from engine import diskutil
from engine.errors import EngineError
from engine.nodeio import CommandError, NodeIO


class ImageToolError(EngineError):
    pass


def require_image(io: NodeIO, path: str) -> None:
    if io.quiet(["test", "-f", path], check=False).rc != 0:
        raise ImageToolError(f"{path}: no such image file on the node")


@contextmanager
def loop_attached(io: NodeIO, path: str, read_only: bool = False):
    argv = ["/sbin/losetup", "-f", "--show"] + (["-r"] if read_only else []) + [path]
    result = io.cmd(argv, check=False)
    dev = result.stdout.strip()
    if result.rc != 0 or not dev.startswith("/dev/loop"):
        raise ImageToolError(f"{path}: cannot attach a loop device: {result.stderr.strip() or 'no device'}")
    try:
        yield dev
    finally:
        # NC's detach: up to 9 tries a second apart (a fault sweep found one failed `losetup -d` leaving it)
        diskutil.loop_detach(io, dev)


@contextmanager
def mounted(io: NodeIO, path: str, token, read_only: bool = False):
    """The image's filesystem at a fresh 0700 directory; yields the mount point."""
    with loop_attached(io, path, read_only) as dev, ExitStack() as stack:
        try:
            mnt = stack.enter_context(diskutil.mounted(io, dev, f"/tmp/nc-harness-image-{token(6)}", read_only))
        except CommandError as exc:
            raise ImageToolError(f"{path}: cannot mount its filesystem: {exc.stderr.strip()}") from None
        yield mnt
