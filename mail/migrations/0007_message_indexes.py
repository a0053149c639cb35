"""Foreign keys lose their own indexes where a composite index leads with them, and the
send-limit window index (provider_id, limit_counted_at) stops being partial.

Each dropped index was the leading column of a composite one, which serves the same lookups
and cascades: mail_message's provider (mail_msg_limit_window) and account
(mail_msg_account_created), an event's message (mail_event_message), an idempotency record's
account (mail_idempotency_unique_key), an attachment content's account (mail_attachment_once),
a send-limit bucket's provider (mail_limit_bucket_minute). Every index of mail_message costs a
send two writes (its INSERT and its "sent" update, never a HOT one), and each event and
idempotency record one.

The window index must be the only index with provider_id first: with the provider_id index
beside it, a planner whose statistics say mail_message is small (a new install, autovacuum
off) counted a provider's windows through that one, reading every message of the provider on
every limited send (measured: 7 ms a count at 3,000 messages, twice a send, under the
provider's lock). And the window's oldest slot is read as the first entry of that index after
the window's start (ORDER BY ... LIMIT 1): min() was planned as an aggregate over every slot
in the window.

The foreign keys change in the migration state only: dropping their indexes needs no
constraint rebuilt (Django's AlterField would drop and re-validate each constraint). The
index names are the ones Django gave them, the same on PostgreSQL and SQLite.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ACCOUNT_INDEX = "mail_message_account_id_174a598c"
PROVIDER_INDEX = "mail_message_provider_id_f418af0d"
BUCKET_PROVIDER_INDEX = "mail_sendlimitbucket_provider_id_fcc2a42b"
EVENT_MESSAGE_INDEX = "mail_messageevent_message_id_94ec2918"
IDEMPOTENCY_ACCOUNT_INDEX = "mail_idempotencyrecord_account_id_a9d61f97"
ATTACHMENT_ACCOUNT_INDEX = "mail_attachmentcontent_account_id_7538e5c0"

# mail_limit_window of migration 0006; only how it reads the window's oldest slot changes.
_WINDOW_FUNCTION = """
CREATE OR REPLACE FUNCTION mail_limit_window(provider bigint, window_start timestamptz,
                                             OUT used bigint, OUT oldest timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT
        (SELECT coalesce(sum(b.taken), 0) FROM mail_sendlimitbucket b
         WHERE b.provider_id = provider AND b.minute > date_trunc('minute', window_start))
        + (SELECT count(*) FROM mail_message m
           WHERE m.provider_id = provider AND m.limit_counted_at IS NOT NULL
             AND m.limit_counted_at > window_start
             AND m.limit_counted_at < date_trunc('minute', window_start) + interval '1 minute'),
        (SELECT OLDEST FROM mail_message m
         WHERE m.provider_id = provider AND m.limit_counted_at IS NOT NULL
           AND m.limit_counted_at > window_start ORDER_LIMIT)
    INTO used, oldest;
END;
$$;
"""
WINDOW_OLDEST_FIRST = _WINDOW_FUNCTION.replace("OLDEST", "m.limit_counted_at").replace(
    "ORDER_LIMIT", "ORDER BY m.limit_counted_at LIMIT 1"
)
WINDOW_OLDEST_MIN = _WINDOW_FUNCTION.replace("OLDEST", "min(m.limit_counted_at)").replace(
    " ORDER_LIMIT", ""
)


def _postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":  # SQLite has no such function
            schema_editor.execute(sql)

    return run


def _index_drop(name: str, table: str, column: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f'DROP INDEX IF EXISTS "{name}"', reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")'
    )


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0006_send_limit_buckets"),
        ("providers", "0002_provider_webhook_token_key"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="message", name="mail_msg_limit_window"),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["provider", "limit_counted_at"], name="mail_msg_limit_window"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="provider",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="messages",
                        to="providers.smtpprovider",
                    ),
                ),
                migrations.AlterField(
                    model_name="messageevent",
                    name="message",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="mail.message",
                    ),
                ),
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="attachmentcontent",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="sendlimitbucket",
                    name="provider",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="providers.smtpprovider",
                    ),
                ),
            ],
            database_operations=[
                _index_drop(ACCOUNT_INDEX, "mail_message", "account_id"),
                _index_drop(PROVIDER_INDEX, "mail_message", "provider_id"),
                _index_drop(BUCKET_PROVIDER_INDEX, "mail_sendlimitbucket", "provider_id"),
                _index_drop(EVENT_MESSAGE_INDEX, "mail_messageevent", "message_id"),
                _index_drop(IDEMPOTENCY_ACCOUNT_INDEX, "mail_idempotencyrecord", "account_id"),
                _index_drop(ATTACHMENT_ACCOUNT_INDEX, "mail_attachmentcontent", "account_id"),
            ],
        ),
        migrations.RunPython(_postgresql(WINDOW_OLDEST_FIRST), _postgresql(WINDOW_OLDEST_MIN)),
    ]
