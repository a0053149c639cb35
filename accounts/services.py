"""Creating, finding and revoking API keys."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone

from accounts.models import KEY_PREFIX_LIVE, KEY_PREFIX_TEST, PERMISSION_MAIL, ApiKey
from mailpass.admin_tenancy import OWNER_GROUP

# Distinct visible prefix length: "mp_live_" plus 4 random characters.
DISPLAY_PREFIX_LENGTH = 12
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedApiKey:
    """The stored key and its plain text, which exists only in this return value."""

    api_key: ApiKey
    plain_key: str


def api_key_hash(plain_key: str) -> str:
    return hashlib.sha256(plain_key.encode()).hexdigest()


def api_key_create(
    *,
    account: AbstractBaseUser,
    name: str = "",
    permissions: list[str] | None = None,
    is_test: bool = False,
) -> CreatedApiKey:
    prefix = KEY_PREFIX_TEST if is_test else KEY_PREFIX_LIVE
    plain_key = prefix + secrets.token_urlsafe(32)  # 43 url-safe characters
    api_key = ApiKey.objects.create(
        account=account,
        name=name,
        key_hash=api_key_hash(plain_key),
        prefix=plain_key[:DISPLAY_PREFIX_LENGTH],
        last_four=plain_key[-4:],
        is_test=is_test,
        permissions=sorted(set(permissions)) if permissions is not None else [PERMISSION_MAIL],
    )
    return CreatedApiKey(api_key=api_key, plain_key=plain_key)


def api_key_authenticate(*, plain_key: str) -> ApiKey | None:
    """The active key for this plain text, or None. Marks it used (at most once a minute)."""
    if not plain_key.startswith((KEY_PREFIX_LIVE, KEY_PREFIX_TEST)):
        return None
    api_key = (
        ApiKey.objects.select_related("account", "account__mail_settings")
        .filter(key_hash=api_key_hash(plain_key), revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not api_key.account.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_find_for_revoke(*, key_or_prefix: str) -> list[ApiKey]:
    """Active keys matching a full key, or its display prefix (``mp_live_abcd``).

    The caller refuses a prefix that matches several keys.
    """
    active = ApiKey.objects.filter(revoked_at__isnull=True)
    by_hash = list(active.filter(key_hash=api_key_hash(key_or_prefix)))
    if by_hash:
        return by_hash
    prefix = key_or_prefix.split("…")[0]
    if len(prefix) != DISPLAY_PREFIX_LENGTH:
        return []
    return list(active.filter(prefix=prefix))


def account_get_or_create(*, username: str, create: bool):
    """The user with this username; created (without a usable password) only when asked."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None and create:
        user = user_model.objects.create_user(username=username)
    return user


class AccountExists(Exception):
    """``account_create`` was given a username that is taken."""


def account_create(*, username: str, email: str = "", password: str | None = None):
    """A new account owner (API.md section 20): a staff user, not a superuser, in the group
    ``account owners``. Without a password the user cannot log in until one is set."""
    user_model = get_user_model()
    with transaction.atomic():
        if user_model.objects.filter(username=username).exists():
            raise AccountExists(username)
        user = user_model.objects.create_user(
            username=username, email=email, password=password, is_staff=True
        )
        group, _ = Group.objects.get_or_create(name=OWNER_GROUP)
        user.groups.add(group)
    return user
