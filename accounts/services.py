"""Creating, finding and revoking API keys."""

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import connection, transaction
from django.db.models import Model
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
class AuthenticationJoin:
    """One more row of the caller's account that a request wants read with its key.

    ``model``'s row is LEFT JOINed as ``j`` on ``condition`` (SQL that may name the key's
    ``k.account_id`` and take ``params``); it must match at most one row. An app above
    accounts asks for it (``mail``: the Idempotency-Key's record), so the request learns it
    in the authentication read instead of a round trip of its own.
    """

    model: type[Model]
    condition: str
    params: tuple = ()


@dataclass(frozen=True)
class _AuthenticationQuery:
    sql: str
    readers: tuple[RowReader, ...]
    widths: tuple[int, ...]


@functools.cache
def _authentication_query(
    vendor: str, joined: type[Model] | None = None, condition: str = ""
) -> _AuthenticationQuery:
    """The key, its account, the account's settings, its active default provider and the
    joined row if any: one statement, written once per join (``vendor`` keys the cache: the
    converters are the backend's)."""
    from providers.models import SmtpProvider  # providers builds on accounts, not the reverse

    user_model = get_user_model()
    columns = [
        ModelColumns(ApiKey, "k"),
        ModelColumns(user_model, "u"),
        ModelColumns(AccountSettings, "s"),
        ModelColumns(SmtpProvider, "p"),
    ]
    quote = connection.ops.quote_name
    join_sql = ""
    if joined is not None:
        columns.append(ModelColumns(joined, "j"))
        join_sql = f"LEFT JOIN {quote(joined._meta.db_table)} j ON {condition} "
    sql = (
        f"SELECT {', '.join(c.select_sql() for c in columns)} "
        f"FROM {quote(ApiKey._meta.db_table)} k "
        f"JOIN {quote(user_model._meta.db_table)} u ON u.{quote(user_model._meta.pk.column)} "
        "= k.account_id "
        f"LEFT JOIN {quote(AccountSettings._meta.db_table)} s ON s.account_id = k.account_id "
        f"LEFT JOIN {quote(SmtpProvider._meta.db_table)} p ON p.account_id = k.account_id "
        "AND p.is_default = %s AND p.is_active = %s "
        f"{join_sql}"
        "WHERE k.key_hash = %s AND k.revoked_at IS NULL"
    )
    return _AuthenticationQuery(
        sql=sql,
        readers=tuple(RowReader(c) for c in columns),
        widths=tuple(c.width() for c in columns),
    )


def api_key_authenticate(
    *, plain_key: str, join: AuthenticationJoin | None = None
) -> ApiKey | None:
    """The active key for this plain text, or None. Marks it used (at most once a minute).

    One round trip reads everything a request needs to know about its caller: the key, its
    account with the account's settings (``account.mail_settings``), and the account's active
    default provider (``api_key.default_provider``, None without one; the same rule as
    ``providers.selectors.provider_get_default``). Nothing is cached across requests, so a
    revoked key, a deactivated account or a new default provider count from the next request.
    With ``join``, its row (None when there is none) is ``api_key.joined``.
    """
    if not plain_key.startswith((KEY_PREFIX_LIVE, KEY_PREFIX_TEST)):
        return None
    if join is None:
        query = _authentication_query(connection.vendor)
        params = [True, True, api_key_hash(plain_key)]
    else:
        query = _authentication_query(connection.vendor, join.model, join.condition)
        params = [True, True, *join.params, api_key_hash(plain_key)]
    with prepared_cursor() as cursor:
        cursor.execute(query.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    parts, start = [], 0
    for width in query.widths:
        parts.append(row[start : start + width])
        start += width
    key_reader, user_reader, settings_reader, provider_reader = query.readers[:4]
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
    if join is not None:
        api_key.joined = query.readers[4].instance(parts[4]) if parts[4][0] is not None else None
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
