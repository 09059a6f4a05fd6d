"""Images served over real HTTP from this machine (loopback), for the engine's URL download path.

Content is made here, not on the node: zeros and pattern in Python, ext2/ext3 with the real mke2fs on a
sparse file. Each image is served as `<id>.img` with `<id>.img.manifest.xml` beside it.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading

from harness.images.staging import ImageSpec, StagingError

PLACEHOLDER = "http://nc-harness.images/"


def manifest_for(spec: ImageSpec) -> str:
    return spec.manifest or (f'<?xml version="1.0" ?><manifest><version>2007-10-10</version>'
                             f"<image><name>{spec.id}.img</name><size>{spec.size}</size></image></manifest>")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that hangs up mid-transfer (a download the engine abandoned) is not the server's error: the
        default prints a traceback on the run's console."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class ImageServer:
    def __init__(self, specs: list[ImageSpec]):
        self.specs = specs
        self.dir = tempfile.mkdtemp(prefix="nc-harness-images-")
        self.httpd = None

    def __enter__(self) -> ImageServer:
        if not self.specs:       # most scenarios serve nothing: no thread, no shutdown wait
            return self
        for spec in self.specs:
            self._make(spec)
        handler = functools.partial(_QuietHandler, directory=self.dir)
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        # shutdown() waits for the loop's next poll: 0.5 s by default, per scenario run
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def url(self, location: str) -> str:
        if self.httpd is None or not location.startswith(PLACEHOLDER):
            return location
        return self.base + location[len(PLACEHOLDER):]

    def _make(self, spec: ImageSpec) -> None:
        path = os.path.join(self.dir, f"{spec.id}.img")
        with open(path, "wb") as fh:
            fh.truncate(spec.size)
            if spec.content == "pattern":
                fh.write((f"{spec.id} " * 64)[:4096].encode())
        if spec.content in ("ext2", "ext3"):
            mkfs = shutil.which(f"mkfs.{spec.content}")
            if mkfs is None:
                raise StagingError(f"serving {spec.id}: mkfs.{spec.content} is not installed here (e2fsprogs)")
            proc = subprocess.run([mkfs, "-q", "-F", path], capture_output=True, text=True)
            if proc.returncode:
                raise StagingError(f"serving {spec.id}: mkfs.{spec.content}: {proc.stderr.strip()}")
        with open(path + ".manifest.xml", "w") as fh:
            fh.write(manifest_for(spec))

    def __exit__(self, *exc) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)
