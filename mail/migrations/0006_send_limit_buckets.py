"""Send-limit buckets, kept by triggers (PostgreSQL).

A trigger, not Python at each call site: a message's slot is taken, moved or given back by
single sends (raw SQL), the queue drain (reserve, and its sent statement), failures, cancels
and deletions, and a ledger kept beside each would drift as soon as one path forgot it. The
trigger runs in the writer's transaction, so a rolled-back send never counts.

Only providers with a limit have buckets: an unlimited provider's senders take no lock, and a
shared counter row would make them queue on each other. That makes the moment a provider
gains a limit the delicate one. The message trigger reads the provider's limits ``FOR KEY
SHARE`` (the lock a foreign-key check takes anyway), and the provider trigger that rebuilds
the buckets when limits appear first locks the row ``FOR UPDATE``, which waits for every
sender that read "unlimited" to commit; a sender that reads after it sees the limit. For a
limited provider, the message trigger takes the reservers' mutex (``FOR NO KEY UPDATE``, as
``mail.limits`` does) before its bucket, so that every path locks in the same order.
"""

import django.db.models.deletion
from django.db import migrations, models

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION mail_limit_bucket_move(provider bigint, at timestamptz, delta integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    limited boolean;
BEGIN
    IF provider IS NULL THEN
        RETURN;
    END IF;
    SELECT p.hourly_limit IS NOT NULL OR p.daily_limit IS NOT NULL INTO limited
    FROM providers_smtpprovider p WHERE p.id = provider FOR KEY SHARE;
    IF limited IS NOT TRUE THEN
        RETURN;
    END IF;
    PERFORM 1 FROM providers_smtpprovider p WHERE p.id = provider FOR NO KEY UPDATE;
    INSERT INTO mail_sendlimitbucket (provider_id, minute, taken)
    VALUES (provider, date_trunc('minute', at), delta)
    ON CONFLICT (provider_id, minute)
    DO UPDATE SET taken = mail_sendlimitbucket.taken + EXCLUDED.taken;
END;
$$;

CREATE OR REPLACE FUNCTION mail_message_limit_slot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.limit_counted_at IS NOT NULL THEN
        PERFORM mail_limit_bucket_move(OLD.provider_id, OLD.limit_counted_at, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.limit_counted_at IS NOT NULL THEN
        PERFORM mail_limit_bucket_move(NEW.provider_id, NEW.limit_counted_at, 1);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS mail_message_limit_slot_insert ON mail_message;
CREATE TRIGGER mail_message_limit_slot_insert AFTER INSERT ON mail_message
    FOR EACH ROW WHEN (NEW.limit_counted_at IS NOT NULL)
    EXECUTE FUNCTION mail_message_limit_slot();
DROP TRIGGER IF EXISTS mail_message_limit_slot_update ON mail_message;
CREATE TRIGGER mail_message_limit_slot_update AFTER UPDATE OF limit_counted_at, provider_id
    ON mail_message FOR EACH ROW
    WHEN (OLD.limit_counted_at IS DISTINCT FROM NEW.limit_counted_at
          OR OLD.provider_id IS DISTINCT FROM NEW.provider_id)
    EXECUTE FUNCTION mail_message_limit_slot();
DROP TRIGGER IF EXISTS mail_message_limit_slot_delete ON mail_message;
CREATE TRIGGER mail_message_limit_slot_delete AFTER DELETE ON mail_message
    FOR EACH ROW WHEN (OLD.limit_counted_at IS NOT NULL)
    EXECUTE FUNCTION mail_message_limit_slot();

CREATE OR REPLACE FUNCTION mail_provider_limit_buckets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Waits for the senders that read this provider as unlimited (FOR KEY SHARE) to commit,
    -- and keeps new ones out until this transaction ends.
    PERFORM 1 FROM providers_smtpprovider p WHERE p.id = NEW.id FOR UPDATE;
    DELETE FROM mail_sendlimitbucket WHERE provider_id = NEW.id;
    IF NEW.hourly_limit IS NOT NULL OR NEW.daily_limit IS NOT NULL THEN
        INSERT INTO mail_sendlimitbucket (provider_id, minute, taken)
        SELECT NEW.id, date_trunc('minute', m.limit_counted_at), count(*)
        FROM mail_message m
        WHERE m.provider_id = NEW.id AND m.limit_counted_at IS NOT NULL
          AND m.limit_counted_at > now() - interval '25 hours'
        GROUP BY 2;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS mail_provider_limit_buckets ON providers_smtpprovider;
CREATE TRIGGER mail_provider_limit_buckets AFTER UPDATE OF hourly_limit, daily_limit
    ON providers_smtpprovider FOR EACH ROW
    WHEN ((OLD.hourly_limit IS NULL AND OLD.daily_limit IS NULL)
          IS DISTINCT FROM (NEW.hourly_limit IS NULL AND NEW.daily_limit IS NULL))
    EXECUTE FUNCTION mail_provider_limit_buckets();

-- The providers limited already: their buckets from their messages.
INSERT INTO mail_sendlimitbucket (provider_id, minute, taken)
SELECT m.provider_id, date_trunc('minute', m.limit_counted_at), count(*)
FROM mail_message m JOIN providers_smtpprovider p ON p.id = m.provider_id
WHERE (p.hourly_limit IS NOT NULL OR p.daily_limit IS NOT NULL)
  AND m.limit_counted_at > now() - interval '25 hours'
GROUP BY 1, 2;
"""

POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS mail_provider_limit_buckets ON providers_smtpprovider;
DROP FUNCTION IF EXISTS mail_provider_limit_buckets();
DROP TRIGGER IF EXISTS mail_message_limit_slot_insert ON mail_message;
DROP TRIGGER IF EXISTS mail_message_limit_slot_update ON mail_message;
DROP TRIGGER IF EXISTS mail_message_limit_slot_delete ON mail_message;
DROP FUNCTION IF EXISTS mail_message_limit_slot();
DROP FUNCTION IF EXISTS mail_limit_bucket_move(bigint, timestamptz, integer);
"""


def _run(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return  # elsewhere the windows are counted from the messages themselves
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0005_idempotency_message"),
        ("providers", "0002_provider_webhook_token_key"),
    ]

    operations = [
        migrations.CreateModel(
            name="SendLimitBucket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("minute", models.DateTimeField()),
                ("taken", models.IntegerField()),
                (
                    "provider",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, to="providers.smtpprovider"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("provider", "minute"), name="mail_limit_bucket_minute"
                    )
                ],
            },
        ),
        migrations.RunPython(_run(POSTGRES_FORWARD), _run(POSTGRES_BACKWARD)),
    ]
