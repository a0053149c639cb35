"""Fixtures of the feedback tests: a test SNS (its own CA and signing certificate, served over
real HTTP), providers of each feedback kind, and payloads shaped as the providers document them."""

import base64
import datetime
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from feedback.selectors import provider_webhook_url
from feedback.sns import certificate_cache, sns_string_to_sign
from mail.models import MessageStatus
from tests.factories import MessageFactory, SmtpProviderFactory

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:mailpass-ses-events"


def _certificate(
    *, common_name: str, key, issuer_name: x509.Name, issuer_key, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


@dataclass
class FakeSns:
    """Signs SNS messages like Amazon SNS does, with a certificate served over real HTTP."""

    base_url: str
    key: rsa.RSAPrivateKey
    requests: list[str] = field(default_factory=list)

    @property
    def cert_url(self) -> str:
        return f"{self.base_url}/SimpleNotificationService-test.pem"

    def sign(self, message: dict, *, version: str = "1", key=None) -> dict:
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or self.key).sign(
            sns_string_to_sign(message), padding.PKCS1v15(), algorithm
        )
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": message.get("SigningCertURL", self.cert_url),
        }

    def notification(self, ses_event: dict | str, *, version: str = "1", **overrides) -> dict:
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC_ARN,
            "Message": ses_event if isinstance(ses_event, str) else json.dumps(ses_event),
            "Timestamp": "2026-12-01T00:10:00.000Z",
            "UnsubscribeURL": f"{self.base_url}/?Action=Unsubscribe",
            **overrides,
        }
        return self.sign(message, version=version)

    def subscription_confirmation(self, *, subscribe_url: str | None = None) -> dict:
        token = uuid.uuid4().hex
        message = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": TOPIC_ARN,
            "Message": f"You have chosen to subscribe to the topic {TOPIC_ARN}.",
            "SubscribeURL": subscribe_url
            or f"{self.base_url}/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token={token}",
            "Timestamp": "2026-12-01T00:10:00.000Z",
        }
        return self.sign(message, version="1")


@pytest.fixture(scope="session")
def _sns_pki():
    """A test CA and the SNS signing certificate it issued (made once per run)."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MailPass Test Root CA")])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _certificate(
        common_name="sns.amazonaws.com", key=key, issuer_name=ca_name, issuer_key=ca_key, ca=False
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def fake_sns(settings, _sns_pki) -> Iterator[FakeSns]:
    """The signing certificate and SubscribeURLs on a real local HTTP server; the pattern
    setting allows that server only."""
    key, cert_pem = _sns_pki
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            requests.append(self.path)
            body = cert_pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    settings.MAILPASS_SNS_CERT_URL_PATTERN = rf"http://127\.0\.0\.1:{port}/\S*"
    certificate_cache.clear()
    yield FakeSns(base_url=f"http://127.0.0.1:{port}", key=key, requests=requests)
    certificate_cache.clear()
    server.shutdown()
    server.server_close()


@pytest.fixture
def feedback_url(live_server, settings):
    """The event URL of a provider, on the live server (real HTTP)."""
    settings.MAILPASS_PUBLIC_URL = live_server.url

    def url(provider) -> str:
        return provider_webhook_url(provider)

    return url


def post(url: str, body: bytes | str | dict | list, headers: dict | None = None) -> httpx.Response:
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return httpx.post(url, content=body, headers=headers or {}, timeout=10)


def sns_post(url: str, message: dict) -> httpx.Response:
    """As SNS posts: JSON as text/plain, with its type and id headers."""
    return post(
        url,
        message,
        {
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": message["Type"],
            "x-amz-sns-message-id": message["MessageId"],
            "x-amz-sns-topic-arn": message["TopicArn"],
        },
    )


@pytest.fixture
def ses_provider(alice):
    return SmtpProviderFactory(account=alice, kind="ses", name="alice ses")


@pytest.fixture
def bob_ses_provider(bob):
    return SmtpProviderFactory(account=bob, kind="ses", name="bob ses")


def sent_message(provider, **fields):
    values = {
        "account": provider.account,
        "provider": provider,
        "to_email": "jane@example.com",
        "status": MessageStatus.SENT,
    }
    values.update(fields)
    return MessageFactory(**values)


def ses_mail(message, *, ses_id: str = "") -> dict:
    """The ``mail`` object of an SES notification about ``message``."""
    return {
        "timestamp": "2026-12-01T00:09:58.237Z",
        "source": message.from_email,
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/yourdomain.com",
        "sendingAccountId": "123456789012",
        "messageId": ses_id or message.provider_message_id or "0100018c-unknown-000000",
        "destination": [message.to_email, *message.cc],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": message.from_email},
            {"name": "To", "value": message.to_email},
            {"name": "Message-ID", "value": message.message_id},
            {"name": "Subject", "value": message.subject},
        ],
        "commonHeaders": {
            "from": [message.from_email],
            "to": [message.to_email],
            "messageId": message.message_id,
            "subject": message.subject,
        },
    }


def ses_delivery(message, recipients=None, **mail) -> dict:
    return {
        "notificationType": "Delivery",
        "mail": ses_mail(message, **mail),
        "delivery": {
            "timestamp": "2026-12-01T00:09:59.237Z",
            "processingTimeMillis": 546,
            "recipients": recipients or [message.to_email],
            "smtpResponse": "250 ok:  Message 64111812 accepted",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
            "remoteMtaIp": "127.0.2.0",
        },
    }


def ses_bounce(message, *, bounce_type="Permanent", recipient=None, **mail) -> dict:
    return {
        "notificationType": "Bounce",
        "mail": ses_mail(message, **mail),
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": recipient or message.to_email,
                    "action": "failed",
                    "status": "5.1.1" if bounce_type == "Permanent" else "4.4.7",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown"
                    if bounce_type == "Permanent"
                    else "smtp; 421 4.4.7 mailbox busy",
                }
            ],
            "timestamp": "2026-12-01T00:10:00.000Z",
            "feedbackId": "00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000",
            "remoteMtaIp": "127.0.2.0",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
    }


def ses_complaint(message, *, recipient=None, **mail) -> dict:
    return {
        "notificationType": "Complaint",
        "mail": ses_mail(message, **mail),
        "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": recipient or message.to_email}],
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2026-12-01T00:10:00.000Z",
            "timestamp": "2026-12-01T00:10:01.000Z",
            "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
        },
    }
