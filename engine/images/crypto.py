"""The bundle's cryptography: AES-128-CBC with PKCS#7 padding over the gzip stream, the key and IV as 32
lowercase hex characters RSA-wrapped (PKCS#1 v1.5) for the cloud and user certificates, and the RSA-SHA1
signature over the manifest's machine_configuration and image elements."""
from __future__ import annotations

import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from engine.errors import EngineError


class BundleCryptoError(EngineError):
    pass


def random_hex128(rng=None) -> str:
    return f"{rng.getrandbits(128):032x}" if rng is not None else os.urandom(16).hex()


def check_hex128(text: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise BundleCryptoError(f"{what} must be 32 hex digits (128 bits)")
    return raw


def load_cert(path: str):
    try:
        with open(path, "rb") as fh:
            return x509.load_pem_x509_certificate(fh.read())
    except OSError as exc:
        raise BundleCryptoError(f"{path}: cannot read certificate: {exc.strerror}") from None
    except ValueError:
        raise BundleCryptoError(f"{path}: not a PEM X.509 certificate") from None


def load_private_key(path: str):
    try:
        with open(path, "rb") as fh:
            return serialization.load_pem_private_key(fh.read(), password=None)
    except OSError as exc:
        raise BundleCryptoError(f"{path}: cannot read private key: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise BundleCryptoError(f"{path}: not an unencrypted PEM private key") from None


def wrap(cert, hex_text: str, rng=None) -> str:
    """RSAES-PKCS1-v1_5 of the hex *text* (what `openssl rsautl -encrypt -pkcs -certin` does), hex-encoded.
    With `rng` (a seeded random.Random: deterministic simulation only) the padding comes from it, so the same
    seed gives the same manifest; otherwise from the OS."""
    if rng is None:
        return cert.public_key().encrypt(hex_text.encode("ascii"), rsa_padding.PKCS1v15()).hex()
    numbers = cert.public_key().public_numbers()
    k = (numbers.n.bit_length() + 7) // 8
    message = hex_text.encode("ascii")
    padding_bytes = bytes(rng.randrange(1, 256) for _ in range(k - 3 - len(message)))
    block = int.from_bytes(b"\x00\x02" + padding_bytes + b"\x00" + message, "big")
    return pow(block, numbers.e, numbers.n).to_bytes(k, "big").hex()


def unwrap(private_key, wrapped_hex: str) -> str | None:
    """The 32-hex-digit text, or None when this key cannot open it (wrong key, empty or damaged field)."""
    try:
        text = private_key.decrypt(bytes.fromhex(wrapped_hex), rsa_padding.PKCS1v15()).decode("ascii")
        check_hex128(text, "key")
        return text
    except (ValueError, UnicodeDecodeError, BundleCryptoError):
        return None


def sign(private_key, data: bytes) -> str:
    return private_key.sign(data, rsa_padding.PKCS1v15(), hashes.SHA1()).hex()


def verify(cert, data: bytes, signature_hex: str) -> bool:
    try:
        cert.public_key().verify(bytes.fromhex(signature_hex), data, rsa_padding.PKCS1v15(), hashes.SHA1())
        return True
    except (InvalidSignature, ValueError):
        return False


class Encryptor:
    """AES-128-CBC with PKCS#7 padding, fed in chunks (raw `openssl enc -e -aes-128-cbc -K -iv`)."""

    def __init__(self, key_hex: str, iv_hex: str):
        self.ctx = Cipher(algorithms.AES(check_hex128(key_hex, "--enc-key")),
                          modes.CBC(check_hex128(iv_hex, "--enc-iv"))).encryptor()
        self.pad = padding.PKCS7(128).padder()

    def update(self, data: bytes) -> bytes:
        return self.ctx.update(self.pad.update(data))

    def finish(self) -> bytes:
        return self.ctx.update(self.pad.finalize()) + self.ctx.finalize()


class Decryptor:
    def __init__(self, key_hex: str, iv_hex: str):
        self.ctx = Cipher(algorithms.AES(check_hex128(key_hex, "key")),
                          modes.CBC(check_hex128(iv_hex, "IV"))).decryptor()
        self.unpad = padding.PKCS7(128).unpadder()

    def update(self, data: bytes) -> bytes:
        return self.unpad.update(self.ctx.update(data))

    def finish(self) -> bytes:
        try:
            return self.unpad.update(self.ctx.finalize()) + self.unpad.finalize()
        except ValueError:
            raise BundleCryptoError("decryption failed: bad padding (wrong key or IV, or a damaged part)") from None
