"""The one-member GNU tar stream euca2ools 3.x writes (Python 2.7 tarfile, format GNU, stream mode): mode 0644,
uid/gid 0, empty owner names, mtime 0, magic `ustar  \\0`, devmajor/devminor `0000000\\0`, checksum `%06o\\0 `,
names over 100 bytes through a `././@LongLink` header, sizes of 8 GiB and more in base-256, the stream padded to
a 10240-byte record. Byte-identical to euca2ools' (the vector's image/digest proves it)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

BLOCK = 512
RECORD = 10240


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _size_field(size: int) -> bytes:
    if size < 8 ** 11:
        return _octal(size, 12)
    return b"\x80" + size.to_bytes(11, "big")   # GNU base-256 for 8 GiB and more


def header(name: bytes, size: int, typeflag: bytes = b"0") -> bytes:
    buf = bytearray(BLOCK)
    buf[0:len(name[:100])] = name[:100]
    buf[100:108] = _octal(0o644, 8)
    buf[108:116] = _octal(0, 8)
    buf[116:124] = _octal(0, 8)
    buf[124:136] = _size_field(size)
    buf[136:148] = _octal(0, 12)
    buf[148:156] = b" " * 8
    buf[156:157] = typeflag
    buf[257:265] = b"ustar  \0"
    buf[329:337] = _octal(0, 8)
    buf[337:345] = _octal(0, 8)
    buf[148:155] = b"%06o\0" % sum(buf)
    return bytes(buf)


def member_headers(name: str, size: int) -> bytes:
    raw = name.encode("utf-8")
    out = b""
    if len(raw) > 100:   # GNU long name: a pseudo-member carrying the name, NUL-terminated
        data = raw + b"\0"
        out += header(b"././@LongLink", len(data), b"L") + data + b"\0" * (-len(data) % BLOCK)
    return out + header(raw, size)


def tar_stream(name: str, size: int, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The tar bytes for one member of `size` bytes read from `chunks`; raises ValueError on a size mismatch."""
    head = member_headers(name, size)
    yield head
    total = len(head)
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > size:
            break
        total += len(chunk)
        yield chunk
    if seen != size:
        raise ValueError(f"input size did not match expected image size  (expected size: {size}, read: {seen})")
    tail = b"\0" * (-size % BLOCK) + b"\0" * (2 * BLOCK)
    total += len(tail)
    yield tail + b"\0" * (-total % RECORD)


class TarMemberReader:
    """Reads the first member's data out of a tar byte stream given in chunks (GNU long names and pax headers
    skipped, the member's own name ignored, as euca-unbundle does)."""

    def __init__(self):
        self.buf = bytearray()
        self.remaining: int | None = None   # data bytes of the member still to come
        self.pad = 0
        self.done = False
        self.size = 0

    def feed(self, chunk: bytes) -> bytes:
        """Data bytes of the member contained in `chunk` (the rest of the stream is consumed silently)."""
        if self.done:
            return b""
        self.buf += chunk
        out = bytearray()
        while True:
            if self.remaining is None:
                if len(self.buf) < BLOCK:
                    return bytes(out)
                block = bytes(self.buf[:BLOCK])
                del self.buf[:BLOCK]
                if block == b"\0" * BLOCK:
                    raise ValueError("tar stream has no member")
                size = _parse_size(block[124:136])
                kind = block[156:157]
                if kind in (b"L", b"K", b"x", b"g"):   # long name/link, pax: skip the pseudo-member's data
                    skip = size + (-size % BLOCK)
                    if len(self.buf) < skip:
                        self.buf[0:0] = block        # wait for more input
                        return bytes(out)
                    del self.buf[:skip]
                    continue
                if kind not in (b"0", b"\0", b"7"):
                    raise ValueError(f"tar member of type {kind!r} is not a regular file")
                self.remaining, self.size = size, size
            take = min(self.remaining, len(self.buf))
            out += self.buf[:take]
            del self.buf[:take]
            self.remaining -= take
            if self.remaining == 0:
                self.done = True
                self.buf.clear()
                return bytes(out)
            return bytes(out)


def _parse_size(field: bytes) -> int:
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.rstrip(b"\0 ").strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise ValueError("tar header has a bad size field") from None
