"""Dashboard speed with 1,000,000 messages and 3,000,000 events in one account.

Fills a fresh PostgreSQL database server-side (generate_series; the events go through the
real trigger that keeps the counters), then times the admin home page for the account owner
in-process (server time: Django, templates, queries) for each period, next to a plain admin
page of the same site (the password-change form: same middleware, session and auth) measured
in the same run. Target: under 300 ms.

    .venv/bin/python bench/dashboard.py [--messages 1000000] [--rounds 15]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import PYTHON, database_recreate  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpass_bench_dashboard"
)

MESSAGES_SQL = """
INSERT INTO mail_message (
    account_id, provider_id, message_id, from_email, from_name, to_email, cc, bcc, reply_to,
    subject, html, text, tags, metadata, track_opens, track_clicks, status, error_message,
    is_test, attempts, limit_counted_at, created_at, sent_at, updated_at)
SELECT %(account)s, %(provider)s, 'bench-' || g || '@mailpass.im', 'shop@example.com', '',
       'reader' || g || '@example.com', '[]', '[]', '', 'Order ' || g, '<p>hi</p>', '', '[]',
       '{}', true, true,
       CASE WHEN g %% 50 = 0 THEN 'failed' WHEN g %% 50 = 1 THEN 'bounced'
            WHEN g %% 3 = 0 THEN 'delivered' ELSE 'sent' END,
       CASE WHEN g %% 50 = 0 THEN '550 5.7.1 rejected' ELSE '' END,
       false, 1, t, t, t, t
FROM generate_series(1, %(count)s) AS g,
     LATERAL (SELECT now() - (g::float / %(count)s) * interval '30 days' AS t) AS at
"""

# Three events a message: sent (or failed), then delivered / bounced / open, then a click
# on every fourth and an open on the rest.
EVENTS_SQL = """
INSERT INTO mail_messageevent (message_id, event_type, ip_address, user_agent, url, detail,
                               created_at)
SELECT m.id,
       CASE WHEN n = 1 AND m.status = 'failed' THEN 'failed'
            WHEN n = 1 THEN 'sent'
            WHEN n = 2 AND m.status = 'bounced' THEN 'bounced'
            WHEN n = 2 AND m.status = 'delivered' THEN 'delivered'
            WHEN n = 2 THEN 'open'
            WHEN m.id %% 4 = 0 THEN 'click'
            ELSE 'open' END,
       NULL, '', '', '', m.created_at + n * interval '1 minute'
FROM mail_message m, generate_series(1, 3) AS n
WHERE m.account_id = %(account)s
"""


def timed_get(client, path: str, rounds: int) -> list[float]:
    client.get(path)  # warm: template loading, first connection
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "CACHE_URL": "locmemcache://",
        "CELERY_BROKER_URL": "",
        "DJANGO_DEBUG": "false",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL")})
    database_recreate(DATABASE_URL)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpass.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.test import Client

    from providers.models import SmtpProvider

    users = get_user_model().objects
    alice = users.create_user("alice", is_staff=True)
    alice.user_permissions.set(Permission.objects.filter(content_type__app_label="mail"))
    provider = SmtpProvider.objects.create(
        account=alice,
        name="Main",
        host="127.0.0.1",
        port=25,
        hourly_limit=50000,
        daily_limit=1000000,
        is_default=True,
    )
    bob = users.create_user("bob", is_staff=True)
    bob_provider = SmtpProvider.objects.create(account=bob, name="B", host="127.0.0.1", port=25)

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            MESSAGES_SQL, {"account": alice.pk, "provider": provider.pk, "count": args.messages}
        )
        cursor.execute(
            MESSAGES_SQL.replace("'bench-'", "'bob-'"),
            {"account": bob.pk, "provider": bob_provider.pk, "count": 1000},
        )
    fill_messages = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(EVENTS_SQL, {"account": alice.pk})
        cursor.execute("SELECT count(*) FROM mail_messageevent")
        events = cursor.fetchone()[0]
        cursor.execute("VACUUM ANALYZE")
    fill_events = time.perf_counter() - started

    client = Client()
    client.force_login(alice)
    baseline = timed_get(client, "/admin/password_change/", args.rounds)
    print(
        f"filled {args.messages:,} messages in {fill_messages:.1f} s and {events:,} events "
        f"(through the counting trigger) in {fill_events:.1f} s"
    )
    print(f"baseline  /admin/password_change/  median {statistics.median(baseline):7.1f} ms")
    for period in ("24h", "7d", "30d"):
        samples = timed_get(client, f"/admin/?period={period}", args.rounds)
        median = statistics.median(samples)
        p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
        print(
            f"dashboard {period:>4}  median {median:7.1f} ms  p95 {p95:7.1f} ms  "
            f"({median / statistics.median(baseline):.1f}x the baseline page; target < 300 ms)"
        )
    samples = timed_get(client, f"/admin/dashboard/provider/{provider.pk}/?period=30d", args.rounds)
    print(f"provider page 30d  median {statistics.median(samples):7.1f} ms")


if __name__ == "__main__":
    main()
