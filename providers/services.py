"""Creating providers, choosing the default, and the one seam everything sends through."""

import smtplib
import ssl
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.utils.functional import cached_property

from feedback.keys import webhook_key_problem
from mail.identifiers import message_id_generate
from providers.crypto import SecretDecryptionError, secret_decrypt
from providers.models import Security, SmtpProvider
from providers.presets import RELAY_PRESETS
from providers.signals import connection_checked


class ProviderEmailBackend(EmailBackend):
    """Django's SMTP backend, verifying TLS against ``MAILPASS_SMTP_CA_FILE`` when it is set.

    The stored password is decrypted when the connection opens, not when the backend is made,
    so a password that no longer decrypts (``MAILPASS_ENCRYPTION_KEY`` changed) fails in
    ``open()`` like any other connection problem, where the send paths record it.
    """

    def __init__(self, *, password_encrypted: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._password_encrypted = password_encrypted

    def password_load(self) -> None:
        """Decrypt the stored password; raises ``SecretDecryptionError``."""
        if self._password_encrypted and not self.password:
            self.password = secret_decrypt(self._password_encrypted)

    def open(self) -> bool | None:
        if self.connection is None:
            self.password_load()
        return super().open()

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        if settings.MAILPASS_SMTP_CA_FILE:
            return ssl.create_default_context(cafile=settings.MAILPASS_SMTP_CA_FILE)
        return super().ssl_context


def provider_connection(provider: SmtpProvider) -> EmailBackend:
    """A Django SMTP backend for this provider, not yet opened.

    Everything that sends mail goes through this: ``open()`` connects (TLS, login), and the
    timeout is always set so a silent server cannot hang a request or a worker.
    """
    return ProviderEmailBackend(
        host=provider.host,
        port=provider.port,
        username=provider.username or None,
        password="",
        password_encrypted=provider.password_encrypted,
        use_tls=provider.security == Security.STARTTLS,
        use_ssl=provider.security == Security.SSL,
        timeout=provider.timeout,
        fail_silently=False,
    )


@transaction.atomic
def provider_make_default(*, provider: SmtpProvider) -> SmtpProvider:
    """Make this the account's default; the former default stops being one, in one transaction."""
    # Lock the account's providers so two concurrent "make default" calls serialize.
    list(SmtpProvider.objects.select_for_update().filter(account_id=provider.account_id))
    SmtpProvider.objects.filter(account_id=provider.account_id, is_default=True).exclude(
        pk=provider.pk
    ).update(is_default=False)
    SmtpProvider.objects.filter(pk=provider.pk).update(is_default=True)
    provider.is_default = True
    return provider


def provider_apply_preset(*, provider: SmtpProvider) -> SmtpProvider:
    """Fill host, port and security from the kind's relay settings where they are empty."""
    preset = RELAY_PRESETS.get(provider.kind)
    if preset is not None and not provider.host:
        provider.host, provider.port, provider.security = preset
    return provider


@transaction.atomic
def provider_create(
    *,
    account: AbstractBaseUser,
    name: str,
    host: str,
    port: int,
    security: str = Security.STARTTLS,
    username: str = "",
    password: str = "",
    from_email: str = "",
    from_name: str = "",
    hourly_limit: int | None = None,
    daily_limit: int | None = None,
    timeout: float = 10.0,
    kind: str = "smtp",
    make_default: bool = False,
    webhook_key: str = "",
) -> SmtpProvider:
    provider = SmtpProvider(
        account=account,
        name=name,
        kind=kind,
        host=host,
        port=port,
        security=security,
        username=username,
        from_email=from_email,
        from_name=from_name,
        hourly_limit=hourly_limit,
        daily_limit=daily_limit,
        timeout=timeout,
    )
    provider.password = password
    problem = webhook_key_problem(kind=kind, key=webhook_key.strip())
    if problem:
        raise ValidationError({"webhook_key": [problem]})
    provider.webhook_key = webhook_key
    provider_apply_preset(provider=provider)
    provider.full_clean(exclude=["account"])
    provider.save()
    if make_default:
        provider_make_default(provider=provider)
    return provider


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    steps: list[str]
    error: str = ""


def provider_test_connection(*, provider: SmtpProvider) -> ConnectionCheck:
    """Connect, negotiate TLS, log in and QUIT, reporting each step and the server's answer.

    The steps are those of ``EmailBackend.open()`` done one by one with the same backend's
    settings (TLS context, timeout), so a failure names the step that failed. The result is
    announced (``connection_checked``) so the dashboard can show the provider's last check.
    """
    check = _connection_check(provider)
    connection_checked.send(sender=SmtpProvider, provider=provider, check=check)
    return check


def _connection_check(provider: SmtpProvider) -> ConnectionCheck:
    backend = provider_connection(provider)
    try:
        backend.password_load()
    except SecretDecryptionError as exc:
        return ConnectionCheck(ok=False, steps=[], error=str(exc))
    steps: list[str] = []
    step = f"connect to {provider.host}:{provider.port}"
    conn = None
    try:
        # The cached FQDN, as EmailBackend.open() does: getfqdn() can take seconds.
        params: dict = {"timeout": backend.timeout, "local_hostname": DNS_NAME.get_fqdn()}
        if backend.use_ssl:
            params["context"] = backend.ssl_context
        conn = backend.connection_class(**params)
        # smtplib takes the TLS server name from the constructor's host only; connecting
        # separately (to read the greeting) must set it the same way.
        conn._host = provider.host
        code, reply = conn.connect(provider.host, provider.port)
        steps.append(f"{step}{' (implicit TLS)' if backend.use_ssl else ''}: {_reply(code, reply)}")
        step = "EHLO"
        code, reply = conn.ehlo()
        steps.append(f"EHLO: {_reply(code, reply.splitlines()[0] if reply else b'')}")
        if backend.use_tls:
            step = "STARTTLS"
            code, reply = conn.starttls(context=backend.ssl_context)
            steps.append(f"STARTTLS: {_reply(code, reply)}")
            step = "EHLO"
            code, reply = conn.ehlo()
            steps.append(
                f"EHLO (after TLS): {_reply(code, reply.splitlines()[0] if reply else b'')}"
            )
        if backend.username and backend.password:
            step = f"AUTH as {backend.username}"
            code, reply = conn.login(backend.username, backend.password)
            steps.append(f"{step}: {_reply(code, reply)}")
        elif backend.username:
            # EmailBackend.open() logs in only with both; say so rather than fail later.
            steps.append(f"AUTH skipped: a username ({backend.username}) but no password")
        step = "QUIT"
        code, reply = conn.quit()
        steps.append(f"QUIT: {_reply(code, reply)}")
        return ConnectionCheck(ok=True, steps=steps)
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        if conn is not None:
            conn.close()
        error = smtp_error_text(exc)
        steps.append(f"{step} failed: {error}")
        return ConnectionCheck(ok=False, steps=steps, error=error)


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {text}".strip()


def smtp_error_text(exc: BaseException) -> str:
    """A one-line description of an SMTP failure, with the server's code and reply if any."""
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{exc.smtp_code} {reply}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = []
        for rcpt, (code, reply) in exc.recipients.items():
            text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
            parts.append(f"{rcpt}: {code} {text}")
        return "; ".join(parts)
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


def provider_send_test_email(*, provider: SmtpProvider, to_email: str) -> ConnectionCheck:
    """Send a short plain-text test message through the provider."""
    from_email = provider.from_email or f"mailpass-test@{provider.host}"
    connection = provider_connection(provider)
    try:
        connection.password_load()
    except SecretDecryptionError as exc:
        return ConnectionCheck(ok=False, steps=[], error=str(exc))
    message = EmailMessage(
        subject=f"MailPass test email from provider {provider.name}",
        body="This is a test email sent from the MailPass admin. Your SMTP provider works.",
        from_email=from_email,
        to=[to_email],
        connection=connection,
        # Our Message-ID, as on every message MailPass sends (Django's names the local host).
        headers={"Message-ID": message_id_generate()},
    )
    try:
        message.send()
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        return ConnectionCheck(ok=False, steps=[], error=smtp_error_text(exc))
    return ConnectionCheck(ok=True, steps=[f"test email sent to {to_email}"])
