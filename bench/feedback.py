"""Benchmark the SES/SNS event endpoint: events recorded per second, signature verified.

    python bench/feedback.py [--duration 10] [--clients 4] [--workers 2] [--threads 2]

1. creates a fresh PostgreSQL database (``--database``), migrates it, makes an account with an
   ``ses`` and a ``sendgrid`` provider (no verification key) and ``--messages`` sent messages
   of each, whose provider ids the events name;
2. serves a test SNS signing certificate from a local HTTP server (the certificate URL pattern
   points at it) and starts the service under gunicorn;
3. signs SNS notifications (SES Delivery events, SignatureVersion 2, RSA 2048) beforehand;
4. alternates, in ``--slices`` slices, posting the signed SNS notifications to the SES URL and
   the same events to the SendGrid URL of a provider without a key: the same endpoint, lookup
   and recording, without signature verification (the baseline); each request is one event;
5. prints events recorded per second of each and the ratio (certificate cached after the first
   request: the certificate server's hit count is printed too).
"""

import argparse
import base64
import datetime
import http.client
import json
import multiprocessing as mp
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402  (run as a script from the repository root)
    PYTHON,
    ROOT,
    database_recreate,
    free_port,
    gunicorn_start,
    process_group_stop,
    service_env,
)

SETUP_SCRIPT = """
import django
django.setup()
from accounts.services import account_get_or_create
from mail.models import Message
from mail.identifiers import message_id_generate
from providers.services import provider_create
user = account_get_or_create(username="bench", create=True)
ses = provider_create(account=user, name="ses", kind="ses", host="127.0.0.1", port=25,
                      security="none")
sg = provider_create(account=user, name="sg", kind="sendgrid", host="127.0.0.1", port=25,
                     security="none")
for provider in (ses, sg):
    Message.objects.bulk_create([
        Message(account=user, provider=provider, message_id=message_id_generate(),
                from_email="support@yourdomain.com", to_email=f"user{{n}}@example.com",
                subject="Hi", text="x", status="sent",
                provider_message_id=f"{{provider.kind}}-{{n:08d}}")
        for n in range({messages})
    ])
print(ses.webhook_token, sg.webhook_token)
"""


def _certificate():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def _cert_server(pem: bytes):
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(pem)))
            self.end_headers()
            self.wfile.write(pem)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hits


def _sns_bodies(key, cert_url: str, count: int, messages: int, offset: int) -> list[bytes]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from feedback.sns import sns_string_to_sign

    bodies = []
    for i in range(count):
        n = (offset + i) % messages
        ses_event = {
            "notificationType": "Delivery",
            "mail": {"messageId": f"ses-{n:08d}", "destination": [f"user{n}@example.com"]},
            "delivery": {"recipients": [f"user{n}@example.com"], "smtpResponse": "250 ok"},
        }
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:bench",
            "Message": json.dumps(ses_event),
            "Timestamp": "2026-12-01T00:00:00.000Z",
            "SignatureVersion": "2",
            "SigningCertURL": cert_url,
        }
        signature = key.sign(sns_string_to_sign(message), padding.PKCS1v15(), hashes.SHA256())
        message["Signature"] = base64.b64encode(signature).decode()
        bodies.append(json.dumps(message).encode())
    return bodies


def _sendgrid_bodies(count: int, messages: int, offset: int) -> list[bytes]:
    bodies = []
    for i in range(count):
        n = (offset + i) % messages
        event = {
            "email": f"user{n}@example.com",
            "timestamp": 1796083200,
            "event": "delivered",
            "sg_event_id": uuid.uuid4().hex,
            "sg_message_id": f"sendgrid-{n:08d}.filterdrecv-1",
            "response": "250 ok",
        }
        bodies.append(json.dumps([event]).encode())
    return bodies


def _client(port: int, path: str, bodies: list[bytes], duration: float, out) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done = errors = 0
    deadline = time.monotonic() + duration
    for body in bodies:
        if time.monotonic() >= deadline:
            break
        conn.request("POST", path, body, {"Content-Type": "text/plain; charset=UTF-8"})
        response = conn.getresponse()
        data = response.read()
        if response.status == 200 and json.loads(data)["data"]["recorded"] == 1:
            done += 1
        else:
            errors += 1
    out.put((done, errors))


def _phase(port, path, per_client: list[list[bytes]], duration: float) -> tuple[float, int]:
    out = mp.Queue()
    procs = [
        mp.Process(target=_client, args=(port, path, bodies, duration, out))
        for bodies in per_client
    ]
    start = time.monotonic()
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.monotonic() - start
    done = sum(r[0] for r in results)
    return done / elapsed, sum(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/mp_bench_feedback"
    )
    parser.add_argument("--cache", default="locmemcache://bench-feedback")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per slice")
    parser.add_argument("--slices", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--events", type=int, default=2500, help="pre-signed per client and slice")
    args = parser.parse_args()

    key, pem = _certificate()
    cert_server, hits = _cert_server(pem)
    cert_port = cert_server.server_address[1]
    cert_url = f"http://127.0.0.1:{cert_port}/SimpleNotificationService-bench.pem"

    database_recreate(args.database)
    data_dir = tempfile.mkdtemp(prefix="mailpass-bench-feedback-")
    env = service_env(args.database, data_dir, args.cache)
    env.update(
        MAILPASS_SNS_CERT_URL_PATTERN=rf"http://127\.0\.0\.1:{cert_port}/\S*",
        MAILPASS_FEEDBACK_RATE="100000000/min",
        DJANGO_SETTINGS_MODULE="mailpass.settings",
    )
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], **run)
    out = subprocess.run(
        [PYTHON, "-c", SETUP_SCRIPT.format(messages=args.messages)], **run
    ).stdout.split()
    ses_token, sg_token = out[-2], out[-1]

    import os

    os.environ.update(DJANGO_SETTINGS_MODULE="mailpass.settings", DATABASE_URL=args.database)
    import django

    django.setup()

    port = free_port()
    gunicorn = gunicorn_start(env, port, args.workers, args.threads)
    try:
        print(f"signing {args.events * args.clients * args.slices} SNS notifications...")
        offset = 0
        ses_rates, sg_rates = [], []
        for _ in range(args.slices):
            ses_bodies, sg_bodies = [], []
            for _client_index in range(args.clients):
                ses_bodies.append(_sns_bodies(key, cert_url, args.events, args.messages, offset))
                sg_bodies.append(_sendgrid_bodies(args.events, args.messages, offset))
                offset += args.events
            rate, errors = _phase(port, f"/feedback/{ses_token}", ses_bodies, args.duration)
            ses_rates.append(rate)
            print(f"  SES/SNS, signature verified: {rate:8.1f} events/s ({errors} not recorded)")
            rate, errors = _phase(port, f"/feedback/{sg_token}", sg_bodies, args.duration)
            sg_rates.append(rate)
            print(f"  baseline, no signature:      {rate:8.1f} events/s ({errors} not recorded)")
    finally:
        process_group_stop(gunicorn)
        cert_server.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)
    ses, sg = sum(ses_rates) / len(ses_rates), sum(sg_rates) / len(sg_rates)
    print(
        f"\nSES/SNS endpoint: {ses:.1f} events/s recorded (signature v2 verified); "
        f"baseline (same endpoint path, unsigned SendGrid event): {sg:.1f} events/s; "
        f"ratio {ses / sg:.2f}. Certificate fetched {len(hits)} time(s) "
        f"({args.workers} gunicorn workers)."
    )


if __name__ == "__main__":
    main()
