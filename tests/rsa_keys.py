"""Throw-away RSA key pairs and self-signed certificates for bundle tests (made fresh, never stored)."""
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def keypair(directory, name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    kpath, cpath = directory / f"{name}-pk.pem", directory / f"{name}-cert.pem"
    kpath.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption()))
    cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(kpath), str(cpath)


def key_set(directory) -> dict:
    user_key, user_cert = keypair(directory, "user")
    cloud_key, cloud_cert = keypair(directory, "cloud")
    other_key, other_cert = keypair(directory, "other")
    return {"user_key": user_key, "user_cert": user_cert, "cloud_key": cloud_key, "cloud_cert": cloud_cert,
            "other_key": other_key, "other_cert": other_cert}
