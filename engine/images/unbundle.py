"""`unbundle`: manifest + parts → the image, checked at every stage.

Part names come from the manifest and must be plain file names; every part must exist and match its SHA-1
before anything is decrypted; the key is the user's wrapped key, then the cloud's (euca-unbundle's order), or
`--enc-key`/`--enc-iv`; with a certificate the signature must verify; the tar stream's SHA-1 and the image
size must match. The image is written under a scratch name and renamed only when all of that holds."""
from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zlib

from engine.errors import EngineError

from . import crypto
from .manifest import SAFE_PART, Manifest, ManifestError, parse, signed_region
from .tarstream import TarMemberReader

CHUNK = 1 << 20
_ZEROS = bytes(CHUNK)


class UnbundleError(EngineError):
    pass


def read_manifest(path: str) -> tuple[Manifest, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UnbundleError(f"{path}: cannot read manifest: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UnbundleError(f"{path}: manifest is not text") from None
    try:
        return parse(text, path), text
    except ManifestError as exc:
        raise UnbundleError(str(exc)) from None


def bundle_key(m: Manifest, privatekey: str | None, enc_key: str | None, enc_iv: str | None) -> tuple[str, str]:
    if enc_key or enc_iv:
        if not (enc_key and enc_iv):
            raise UnbundleError("--enc-key and --enc-iv go together")
        try:
            crypto.check_hex128(enc_key, "--enc-key")
            crypto.check_hex128(enc_iv, "--enc-iv")
        except crypto.BundleCryptoError as exc:
            raise UnbundleError(str(exc)) from None
        return enc_key, enc_iv
    if not privatekey:
        raise UnbundleError("missing private key; please supply one with -k")
    try:
        key = crypto.load_private_key(privatekey)
    except crypto.BundleCryptoError as exc:
        raise UnbundleError(str(exc)) from None
    for key_field, iv_field in (("user_encrypted_key", "user_encrypted_iv"), ("ec2_encrypted_key", "ec2_encrypted_iv")):
        k, iv = getattr(m, key_field), getattr(m, iv_field)
        if k and iv:
            k_hex, iv_hex = crypto.unwrap(key, k), crypto.unwrap(key, iv)
            if k_hex and iv_hex:
                return k_hex, iv_hex
    raise UnbundleError("Failed to decrypt the bundle's encryption key.  Ensure the key supplied matches the one "
                        "used for bundling.")


def check_parts(m: Manifest, source: str) -> list[str]:
    """Every part present and intact, before any decryption."""
    paths, total = [], 0
    for part in m.parts:
        path = os.path.join(source, part.filename)
        try:
            st = os.lstat(path)
        except OSError:
            raise UnbundleError(f"bundle part '{path}' does not exist; you may need to use -s to specify where to "
                                f"find the bundle's parts") from None
        if not stat.S_ISREG(st.st_mode):
            # a symlink out of the bundle directory (to /etc/shadow, to /dev/zero) is never followed
            raise UnbundleError(f"bundle part '{path}' is not a regular file")
        sha1 = hashlib.sha1(usedforsecurity=False)
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                sha1.update(chunk)
                total += len(chunk)
        if sha1.hexdigest() != part.digest:
            raise UnbundleError(f"bundle part '{path}' appears to be corrupt (expected SHA1: {part.digest}, "
                                f"actual: {sha1.hexdigest()})")
        paths.append(path)
    if total != m.bundled_size:
        raise UnbundleError(f"bundle appears to be corrupt (expected bundled size: {m.bundled_size}, "
                            f"parts hold {total})")
    return paths


def unbundle(manifest_path: str, source: str | None = None, destination: str = ".", privatekey: str | None = None,
             enc_key: str | None = None, enc_iv: str | None = None, cert: str | None = None) -> str:
    try:
        return _unbundle(manifest_path, source, destination, privatekey, enc_key, enc_iv, cert)
    except UnbundleError as exc:
        message = str(exc)
        if manifest_path in message or "bundle part '" in message:
            raise
        raise UnbundleError(f"{manifest_path}: {message}") from None


def _unbundle(manifest_path: str, source: str | None, destination: str, privatekey: str | None,
              enc_key: str | None, enc_iv: str | None, cert: str | None) -> str:
    m, text = read_manifest(manifest_path)
    if not SAFE_PART.fullmatch(m.name) or m.name in (".", ".."):
        raise UnbundleError(f"{manifest_path}: image name {m.name[:60]!r} is not a plain file name of at most 200 "
                            "characters")
    if cert:
        try:
            ok = m.signature != "UNSIGNED" and crypto.verify(crypto.load_cert(cert), signed_region(text), m.signature)
        except (crypto.BundleCryptoError, ManifestError) as exc:
            raise UnbundleError(str(exc)) from None
        if not ok:
            raise UnbundleError(f"{manifest_path}: signature does not verify with {cert}")
    key_hex, iv_hex = bundle_key(m, privatekey, enc_key, enc_iv)
    parts = check_parts(m, source if source is not None else os.path.dirname(os.path.abspath(manifest_path)))
    os.makedirs(destination, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{m.name}.", dir=destination)
    try:
        with os.fdopen(fd, "wb") as out:
            written, tar_sha1 = _stream(parts, key_hex, iv_hex, out, m.size)
        if tar_sha1 != m.digest:
            raise UnbundleError(f"bundle appears to be corrupt (expected SHA1: {m.digest}, actual: {tar_sha1})")
        if written != m.size:
            raise UnbundleError(f"bundle appears to be corrupt (expected size: {m.size}, actual: {written})")
        final = os.path.join(destination, m.name)
        os.replace(scratch, final)
        return final
    except BaseException:
        if os.path.exists(scratch):
            os.unlink(scratch)
        raise


def _stream(parts: list[str], key_hex: str, iv_hex: str, out, limit: int) -> tuple[int, str]:
    """Decrypt, gunzip and untar into `out`, a bounded CHUNK of output at a time (a gzip bomb never sits in
    memory), and never more than `limit` bytes (the manifest's size) onto the disk."""
    dec = crypto.Decryptor(key_hex, iv_hex)
    gunzip = zlib.decompressobj(31)
    tar = TarMemberReader()
    tar_sha1 = hashlib.sha1(usedforsecurity=False)
    written = 0

    def take(plain: bytes) -> None:
        nonlocal gunzip, written
        while plain:
            if gunzip.eof:   # concatenated gzip members (pigz -i, or two streams cat'ed together)
                gunzip = zlib.decompressobj(31)
            data = gunzip.decompress(plain, CHUNK)
            plain = gunzip.unused_data if gunzip.eof else gunzip.unconsumed_tail
            tar_sha1.update(data)
            chunk = tar.feed(data)
            written += len(chunk)
            if written > limit:
                raise UnbundleError(f"bundle appears to be corrupt (more than the manifest's {limit} bytes)")
            if _ZEROS.startswith(chunk):
                out.seek(len(chunk), os.SEEK_CUR)     # a hole, as cp --sparse makes: a zeroed image stays small
            else:
                out.write(chunk)

    try:
        for path in parts:
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    take(dec.update(chunk))
        take(dec.finish())
        out.truncate(written)                         # a trailing hole still counts in the size
        if not gunzip.eof:
            raise UnbundleError("bundle appears to be corrupt (the compressed stream is truncated)")
    except zlib.error as exc:
        raise UnbundleError(f"bundle appears to be corrupt (gzip: {exc})") from None
    except crypto.BundleCryptoError as exc:
        raise UnbundleError(str(exc)) from None
    except ValueError as exc:
        raise UnbundleError(f"bundle appears to be corrupt ({exc})") from None
    if not tar.done:
        raise UnbundleError("bundle appears to be corrupt (the tar member is truncated)")
    return written, tar_sha1.hexdigest()
