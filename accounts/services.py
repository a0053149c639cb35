"""Creating, finding and revoking API keys."""

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import (
    KEY_PREFIX_LIVE,
    KEY_PREFIX_TEST,
    PERMISSION_MAIL,
    AccountSettings,
    ApiKey,
)
from mailpass.admin_tenancy import OWNER_GROUP
from mailpass.rows import ModelColumns, RowReader, prepared_cursor

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


@dataclass(frozen=True)
class _AuthenticationQuery:
    sql: str
    readers: tuple[RowReader, RowReader, RowReader, RowReader]
    widths: tuple[int, int, int, int]


@functools.cache
def _authentication_query(vendor: str) -> _AuthenticationQuery:
    """The key, its account, the account's settings and its active default provider: one
    statement, written once (``vendor`` keys the cache: the converters are the backend's)."""
    from providers.models import SmtpProvider  # providers builds on accounts, not the reverse

    user_model = get_user_model()
    columns = (
        ModelColumns(ApiKey, "k"),
        ModelColumns(user_model, "u"),
        ModelColumns(AccountSettings, "s"),
        ModelColumns(SmtpProvider, "p"),
    )
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {', '.join(c.select_sql() for c in columns)} "
        f"FROM {quote(ApiKey._meta.db_table)} k "
        f"JOIN {quote(user_model._meta.db_table)} u ON u.{quote(user_model._meta.pk.column)} "
        "= k.account_id "
        f"LEFT JOIN {quote(AccountSettings._meta.db_table)} s ON s.account_id = k.account_id "
        f"LEFT JOIN {quote(SmtpProvider._meta.db_table)} p ON p.account_id = k.account_id "
        "AND p.is_default = %s AND p.is_active = %s "
        "WHERE k.key_hash = %s AND k.revoked_at IS NULL"
    )
    return _AuthenticationQuery(
        sql=sql,
        readers=tuple(RowReader(c) for c in columns),
        widths=tuple(c.width() for c in columns),
    )


def api_key_authenticate(*, plain_key: str) -> ApiKey | None:
    """The active key for this plain text, or None. Marks it used (at most once a minute).

    One round trip reads everything a request needs to know about its caller: the key, its
    account with the account's settings (``account.mail_settings``), and the account's active
    default provider (``api_key.default_provider``, None without one; the same rule as
    ``providers.selectors.provider_get_default``). Nothing is cached across requests, so a
    revoked key, a deactivated account or a new default provider count from the next request.
    """
    if not plain_key.startswith((KEY_PREFIX_LIVE, KEY_PREFIX_TEST)):
        return None
    query = _authentication_query(connection.vendor)
    with prepared_cursor() as cursor:
        cursor.execute(query.sql, [True, True, api_key_hash(plain_key)])
        row = cursor.fetchone()
    if row is None:
        return None
    parts, start = [], 0
    for width in query.widths:
        parts.append(row[start : start + width])
        start += width
    key_reader, user_reader, settings_reader, provider_reader = query.readers
    api_key = key_reader.instance(parts[0])
    account = user_reader.instance(parts[1])
    if not account.is_active:
        return None
    ApiKey.account.field.set_cached_value(api_key, account)
    account_settings = settings_reader.instance(parts[2]) if parts[2][0] is not None else None
    # None is cached too: ``account.mail_settings`` then raises DoesNotExist without a query.
    AccountSettings.account.field.remote_field.set_cached_value(account, account_settings)
    provider = provider_reader.instance(parts[3]) if parts[3][0] is not None else None
    if provider is not None:
        provider.__class__.account.field.set_cached_value(provider, account)
    api_key.default_provider = provider
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
