"""Where image bytes come from. The NC's url_creator fetches in-process (libcurl) into the blob file; we do the
same with urllib and hand the bytes to the node in 1 MiB `dd` writes, skipping zero chunks so sparse images
stay sparse on the node. The id hashes the image's manifest (`<url>.manifest.xml`), as the URL kind does.
"""
from __future__ import annotations

import re
import urllib.error
import urllib.request

from engine.errors import EngineError

from .artifacts import ImageDescription
from .nodeio import NodeIO

CHUNK = 1 << 20
MANIFEST_MAX = 100000
DOWNLOAD_TRIES = 40
FIRST_BACKOFF, MAX_BACKOFF = 4.0, 300.0
DIGEST_TRIES = 10


class DownloadError(EngineError):
    pass


class UrlImageSource:
    def __init__(self, clock, timeout: float = 10.0, tries: int = DOWNLOAD_TRIES):
        self.clock, self.timeout, self.tries = clock, timeout, tries

    def _get(self, url: str, tries: int):
        delay = FIRST_BACKOFF
        for attempt in range(tries):
            try:
                return urllib.request.urlopen(url, timeout=self.timeout)  # noqa: S310 - http(s) only, checked
            except urllib.error.HTTPError as exc:
                if exc.code not in (408, 500, 502, 503, 504) or attempt == tries - 1:
                    raise DownloadError(f"{url}: HTTP {exc.code}") from None
            except (urllib.error.URLError, OSError) as exc:
                if attempt == tries - 1:
                    raise DownloadError(f"{url}: {getattr(exc, 'reason', exc)}") from None
            self.clock.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
        raise DownloadError(f"{url}: no attempts made")

    @staticmethod
    def _check(url: str) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise DownloadError(f"not an http(s) URL: {url}")

    def describe(self, vbr) -> ImageDescription:
        url = vbr.prepared_location
        self._check(url)
        with self._get(url + ".manifest.xml", DIGEST_TRIES) as resp:
            text = resp.read(MANIFEST_MAX + 1).decode("utf-8", "replace")
        return manifest_description(text, f"{url}.manifest.xml", MANIFEST_MAX)

    def fetch(self, io: NodeIO, vbr, dest_path: str, abort=None) -> int:
        """Returns the number of bytes received (the blob file was sized beforehand, so its size says nothing)."""
        url = vbr.prepared_location
        self._check(url)
        with self._get(url, self.tries) as resp:
            return write_chunks(io, iter(lambda: resp.read(CHUNK), b""), dest_path, abort)


def manifest_description(text: str, where: str, limit: int) -> ImageDescription:
    """The manifest's full text (what the id hashes) and its first `<size>` (the image size), as NC reads them."""
    if len(text) > limit:
        raise DownloadError(f"{where}: longer than {limit} characters")
    m = re.search(r"<size>\s*(\d+)\s*</size>", text)
    if not m:
        raise DownloadError(f"{where}: no <size> element")
    return ImageDescription(text, int(m.group(1)))


def write_chunks(io: NodeIO, chunks, dest_path: str, abort=None) -> int:
    """Bytes into the blob file on the node, in whole-CHUNK `dd` writes (the last may be short); all-zero chunks
    are skipped so sparse images stay sparse. `abort()` is asked before every chunk: a download for an
    instance being terminated bails out. Returns the number of bytes received."""
    received, index, pending = 0, 0, b""
    for data in chunks:
        if abort is not None and abort():
            raise DownloadError(f"{dest_path}: download abandoned: the instance is being terminated")
        pending += data
        while len(pending) >= CHUNK:
            chunk, pending = pending[:CHUNK], pending[CHUNK:]
            _write_at(io, chunk, index, dest_path)
            received += len(chunk)
            index += 1
    if pending:
        _write_at(io, pending, index, dest_path)
        received += len(pending)
    return received


def read_chunks(run, path: str, size: int, on_chunk=None):
    """A node file's bytes, CHUNK at a time through the host interface (`run` is host.run or io.quiet: the caller
    picks whether a failed read raises); `on_chunk(i, n)` is called before chunk i of n."""
    count = -(-size // CHUNK)
    for i in range(count):
        if on_chunk is not None:
            on_chunk(i, count)
        out = run(["dd", f"if={path}", f"bs={CHUNK}", f"skip={i}", "count=1", "status=none"])
        yield out.stdout.encode("utf-8", "surrogateescape")


def _write_at(io: NodeIO, chunk: bytes, index: int, dest_path: str) -> None:
    if chunk.count(0) != len(chunk):
        io.quiet(["dd", f"of={dest_path}", f"bs={CHUNK}", f"seek={index}", "count=1", "conv=notrunc", "status=none"],
                 chunk.decode("utf-8", "surrogateescape"))


class ImageSources:
    """Dispatch by the VBR's location type: file:// to one source, http(s) to another."""

    def __init__(self, by_type: dict):
        self.by_type = by_type

    def _source(self, vbr):
        source = self.by_type.get(vbr.location_type)
        if source is None:
            raise DownloadError(f"no image source for {vbr.location_type} location {vbr.location}")
        return source

    def describe(self, vbr) -> ImageDescription:
        return self._source(vbr).describe(vbr)

    def fetch(self, io, vbr, dest_path: str, abort=None):
        return self._source(vbr).fetch(io, vbr, dest_path, abort=abort)


class NodeFileSource:
    """file:///PATH images already on the node (the imager's `vbr=...:file:///...`): the id hashes the manifest
    beside the file (`PATH.manifest.xml`) when there is one, else the path and size; the bytes are one `cp`."""

    def __init__(self, io: NodeIO):
        self.io = io           # describe() has no io of its own to use

    def describe(self, vbr) -> ImageDescription:
        io, path = self.io, vbr.prepared_location
        size = io.stat([path]).get(path)
        if size is None or io.quiet(["test", "-f", path], check=False).rc != 0:
            raise DownloadError(f"file://{path}: no such regular file on the node")
        manifest = io.read(f"{path}.manifest.xml")
        if manifest:
            return manifest_description(manifest, f"{path}.manifest.xml", MANIFEST_MAX)
        return ImageDescription(f"file={path} size={size[0]}\n", size[0])

    def fetch(self, io: NodeIO, vbr, dest_path: str, abort=None) -> None:
        io.cmd(["/bin/cp", vbr.prepared_location, dest_path])
