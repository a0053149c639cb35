"""A SendGrid-style ECDSA key pair for tests: the public key as SendGrid's console shows it."""

import base64
from functools import cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


@cache
def sendgrid_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key_b64(private_key=None) -> str:
    der = (
        (private_key or sendgrid_private_key())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


def sendgrid_sign(body: bytes, timestamp: str, private_key=None) -> str:
    signature = (private_key or sendgrid_private_key()).sign(
        timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
    )
    return base64.b64encode(signature).decode()
