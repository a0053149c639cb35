"""Encryption at rest of stored secrets (SMTP passwords, provider webhook keys, webhook signing
secrets): Fernet, keys from MAILPASS_ENCRYPTION_KEY.

MAILPASS_ENCRYPTION_KEY is a comma-separated list: the first key encrypts, every key decrypts
(``MultiFernet``), so a key can be rotated without downtime (``manage.py rotate_encryption_key``).

Every model field whose name ends in ``_encrypted`` holds a token of ``secret_encrypt`` (or "");
``encrypted_fields`` finds them all, so a new secret needs no registration: name its column
``<something>_encrypted`` and the rotation command re-encrypts it.
"""

from dataclasses import dataclass
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import models, transaction

ENCRYPTED_FIELD_SUFFIX = "_encrypted"


@cache
def _fernets(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _keys() -> tuple[str, ...]:
    return tuple(key.strip() for key in settings.MAILPASS_ENCRYPTION_KEY.split(",") if key.strip())


def secret_encrypt(plain: str) -> str:
    if not plain:
        return ""
    return _fernets(_keys()).encrypt(plain.encode()).decode()


class SecretDecryptionError(Exception):
    """The stored secret cannot be read with any configured key (was the key changed?)."""


def secret_decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernets(_keys()).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "The stored secret cannot be decrypted with any key of MAILPASS_ENCRYPTION_KEY."
        ) from exc


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with stored secrets, and the names of its ``*_encrypted`` fields."""
    found = []
    for model in apps.get_models():
        names = [
            field.attname
            for field in model._meta.concrete_fields
            if field.name.endswith(ENCRYPTED_FIELD_SUFFIX)
            and isinstance(field, models.TextField | models.CharField)
        ]
        if names:
            found.append((model, names))
    return found


@dataclass
class RotationResult:
    changed: int = 0  # secrets re-encrypted with the first key
    current: int = 0  # secrets already under the first key
    unreadable: int = 0  # secrets no configured key decrypts (left as they are)


def secrets_rotate() -> RotationResult:
    """Re-encrypt every stored secret that is not yet under the first key."""
    keys = _keys()
    first, every = Fernet(keys[0].encode()), _fernets(keys)
    result = RotationResult()
    for model, names in encrypted_fields():
        rows = model._default_manager.all()
        for row in rows.only("pk", *names).iterator(chunk_size=500):
            changes = {}
            for name in names:
                token = getattr(row, name)
                if not token:
                    continue
                try:
                    first.decrypt(token.encode())
                    result.current += 1
                    continue
                except InvalidToken:
                    pass
                try:
                    changes[name] = every.rotate(token.encode()).decode()
                except InvalidToken:
                    result.unreadable += 1
            if changes:
                with transaction.atomic():
                    # Fenced on the old values: a secret changed meanwhile is left to its writer.
                    fence = {name: getattr(row, name) for name in changes}
                    if model._default_manager.filter(pk=row.pk, **fence).update(**changes):
                        result.changed += len(changes)
    return result
