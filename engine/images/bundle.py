"""`bundle`: image → tar (SHA-1 tapped) → gzip → AES-128-CBC → parts + manifest, streaming with bounded memory.

GNU `gzip -c` is the compressor when present (euca2ools' own fallback after pigz; byte-identical parts need the
same compressor), Python's zlib otherwise. Everything is written into a scratch directory inside the destination
and moved into place only when the whole bundle is done, so a failure leaves nothing behind."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.errors import EngineError

from . import crypto
from .manifest import ARCHES, Manifest, Part
from .tarstream import tar_stream

CHUNK = 1 << 20
DEFAULT_PART_SIZE = 10 * 1024 * 1024


class BundleError(EngineError):
    pass


@dataclass
class BundleSpec:
    arch: str
    user: str
    ec2cert: str
    prefix: str = ""
    cert: str | None = None
    privatekey: str | None = None
    image_type: str = "machine"
    kernel: str | None = None
    ramdisk: str | None = None
    block_device_mapping: dict[str, str] = field(default_factory=dict)
    product_codes: list[str] = field(default_factory=list)
    part_size: int = DEFAULT_PART_SIZE
    enc_key: str | None = None
    enc_iv: str | None = None
    bundler: tuple[str, str, str] = ("nc-harness", "0.1", "0")
    rng: object = None          # a seeded random.Random: key, IV and RSA padding from it (simulation only)

    def checked(self) -> BundleSpec:
        """euca-bundle-image's argument rules."""
        if self.arch not in ARCHES:
            raise BundleError(f"argument -r/--arch: invalid choice: '{self.arch}' (choose from {', '.join(ARCHES)})")
        self.user = self.user.replace("-", "")
        if not self.user:
            raise BundleError("missing account ID; please supply one with --user")
        if self.kernel == "true":
            self.image_type = "kernel"
        if self.ramdisk == "true":
            self.image_type = "ramdisk" if self.image_type != "kernel" else "conflict"
        if self.image_type == "conflict":
            raise BundleError("argument --ramdisk: not compatible with image type 'kernel'")
        for kind, own, other, other_flag in (("kernel", self.kernel, self.ramdisk, "--ramdisk"),
                                             ("ramdisk", self.ramdisk, self.kernel, "--kernel")):
            if self.image_type == kind:
                if own not in (None, "true"):
                    raise BundleError(f"argument --{kind}: must be 'true' for a {kind} image")
                if other is not None:
                    raise BundleError(f"argument {other_flag}: not compatible with image type '{kind}'")
                if self.block_device_mapping:
                    raise BundleError(f"argument -B/--block-device-mappings: not compatible with image type '{kind}'")
        if self.part_size <= 0:
            raise BundleError("argument --part-size: must be positive")
        return self


def _read_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


class PartWriter:
    """Cuts the ciphertext into NAME.part.NN files, hashing each. Like euca2ools it opens the next part as soon
    as one is full, so a ciphertext that is an exact multiple of the part size ends in an empty part."""

    def __init__(self, directory: str, prefix: str, part_size: int):
        self.directory, self.prefix, self.part_size = directory, prefix, part_size
        self.parts: list[Part] = []
        self.total = 0
        self._open()

    def _open(self) -> None:
        name = f"{self.prefix}.part.{len(self.parts):02d}"
        self.fh = open(os.path.join(self.directory, name), "wb")
        self.name, self.sha1, self.length = name, hashlib.sha1(usedforsecurity=False), 0

    def _close(self) -> None:
        self.fh.close()
        self.parts.append(Part(self.name, self.sha1.hexdigest()))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self.part_size - self.length)
            self.fh.write(view[:take])
            self.sha1.update(view[:take])
            self.length += take
            self.total += take
            view = view[take:]
            if self.length == self.part_size:
                self._close()
                self._open()

    def close(self) -> list[Part]:
        self._close()
        return self.parts


def _compress(tar_chunks: Iterator[bytes], tar_sha1) -> Iterator[bytes]:
    """gzip of the tar stream, the tar's SHA-1 taken on the way in."""
    gzip = shutil.which("gzip")
    if gzip is None:
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        for chunk in tar_chunks:
            tar_sha1.update(chunk)
            if out := comp.compress(chunk):
                yield out
        yield comp.flush()
        return
    proc = subprocess.Popen([gzip, "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            for chunk in tar_chunks:
                tar_sha1.update(chunk)
                proc.stdin.write(chunk)
        except BaseException as exc:  # noqa: BLE001 - reported by the reading side, which owns the error path
            failure.append(exc)
        finally:
            proc.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        while out := proc.stdout.read(CHUNK):
            yield out
    finally:
        feeder.join()
        proc.stdout.close()
        rc = proc.wait()
    if failure:
        raise failure[0]
    if rc != 0:
        raise BundleError(f"gzip failed (rc={rc})")


def bundle_image(image: str, destination: str, spec: BundleSpec, image_size: int | None = None) -> tuple[str, Manifest]:
    """Bundle the file `image` into `destination`; returns the manifest path and the manifest."""
    try:
        size = image_size if image_size is not None else os.path.getsize(image)
    except OSError as exc:
        raise BundleError(f"{image}: {exc.strerror}") from None
    return bundle_stream(_read_chunks(image), size, destination, spec, spec.prefix or os.path.basename(image), image)


def bundle_stream(chunks, size: int, destination: str, spec: BundleSpec, prefix: str,
                  what: str = "image") -> tuple[str, Manifest]:
    """Bundle `size` bytes given as chunks (a file, or a device read off a node) under the name `prefix`."""
    spec = spec.checked()
    if "/" in prefix or prefix in ("", ".", ".."):
        raise BundleError(f"prefix {prefix!r} must be a plain file name")
    ec2cert = crypto.load_cert(spec.ec2cert)
    cert = crypto.load_cert(spec.cert) if spec.cert else None
    key = crypto.load_private_key(spec.privatekey) if spec.privatekey else None
    key_hex = spec.enc_key or crypto.random_hex128(spec.rng)
    iv_hex = spec.enc_iv or crypto.random_hex128(spec.rng)
    crypto.check_hex128(key_hex, "--enc-key")
    crypto.check_hex128(iv_hex, "--enc-iv")
    os.makedirs(destination, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".bundle-", dir=destination)
    try:
        tar_sha1 = hashlib.sha1(usedforsecurity=False)
        enc = crypto.Encryptor(key_hex, iv_hex)
        writer = PartWriter(scratch, prefix, spec.part_size)
        try:
            for gz in _compress(tar_stream(prefix, size, chunks), tar_sha1):
                writer.write(enc.update(gz))
        except OSError as exc:
            raise BundleError(f"{what}: {exc.strerror}") from None
        except ValueError as exc:
            raise BundleError(f"corrupt bundle: {exc}") from None
        writer.write(enc.finish())
        m = Manifest(name=prefix, user=spec.user, arch=spec.arch, image_type=spec.image_type,
                     digest=tar_sha1.hexdigest(), size=size, kernel_id=spec.kernel, ramdisk_id=spec.ramdisk,
                     block_device_mapping=dict(spec.block_device_mapping), product_codes=list(spec.product_codes),
                     bundler=spec.bundler)
        m.parts = writer.close()
        m.bundled_size = writer.total
        m.ec2_encrypted_key = crypto.wrap(ec2cert, key_hex, spec.rng)
        m.ec2_encrypted_iv = crypto.wrap(ec2cert, iv_hex, spec.rng)
        if cert is not None:
            m.user_encrypted_key = crypto.wrap(cert, key_hex, spec.rng)
            m.user_encrypted_iv = crypto.wrap(cert, iv_hex, spec.rng)
        m.signature = crypto.sign(key, m.signed_bytes()) if key is not None else "UNSIGNED"
        manifest_name = f"{prefix}.manifest.xml"
        with open(os.path.join(scratch, manifest_name), "w", encoding="ascii") as fh:
            fh.write(m.to_xml())
        for name in [p.filename for p in m.parts] + [manifest_name]:
            os.replace(os.path.join(scratch, name), os.path.join(destination, name))
        return os.path.join(destination, manifest_name), m
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
