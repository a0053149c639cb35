"""Encryption at rest of SMTP passwords (Fernet, key from MAILPASS_ENCRYPTION_KEY)."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def secret_encrypt(plain: str) -> str:
    if not plain:
        return ""
    return _fernet(settings.MAILPASS_ENCRYPTION_KEY).encrypt(plain.encode()).decode()


class SecretDecryptionError(Exception):
    """The stored secret cannot be read with the configured key (was the key changed?)."""


def secret_decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(settings.MAILPASS_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "The stored SMTP password cannot be decrypted with MAILPASS_ENCRYPTION_KEY."
        ) from exc
