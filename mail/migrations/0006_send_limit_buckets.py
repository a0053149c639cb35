"""Send-limit buckets, kept by triggers, and the single send's limit check (PostgreSQL).

A trigger, not Python at each call site: a message's slot is taken, moved or given back by
single sends (raw SQL), the queue drain (reserve, and its sent statement), failures, cancels
and deletions, and a ledger kept beside each would drift as soon as one path forgot it. The
trigger runs in the writer's transaction, so a rolled-back send never counts.

Only providers with a limit have buckets: an unlimited provider's senders take no lock, and a
shared counter row would make them queue on each other. That makes the moment a provider
gains a limit the delicate one. The message triggers lock the provider's row ``FOR KEY
SHARE`` (the lock a foreign-key check takes anyway) and then read its limits in a statement
of their own, and the provider trigger that rebuilds the buckets when limits appear first
locks the row ``FOR UPDATE``, which waits for every sender that read "unlimited" to commit; a
sender that reads after it sees the limit. For a
limited provider, the message triggers take the reservers' mutex (``FOR NO KEY UPDATE``, as
``mail.limits`` does) before the bucket, so that every path locks in the same order.

The single send checks its windows in its INSERT's trigger (``mail_message_limit_take``):
the provider's lock is then held from that check to the statement's commit, with no round
trip to the client in between (with the check in Python it was held across three, and on
two saturated cores every send through the provider queued behind a descheduled holder).
"""

import django.db.models.deletion
from django.db import migrations, models

POSTGRES_FORWARD = """
-- The provider's limits, read under the lock every slot writer takes (FOR KEY SHARE); for a
-- limited provider the reservers' mutex (FOR NO KEY UPDATE, as mail.limits takes it) too,
-- so that every path locks the provider before its bucket. Lock first, then read in a
-- statement of its own: a locking read can return the row version it locked while a limit
-- change it then waited for has committed since.
CREATE OR REPLACE FUNCTION mail_limit_lock(provider bigint, OUT hourly integer,
                                           OUT daily integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM providers_smtpprovider p WHERE p.id = provider FOR KEY SHARE;
    SELECT p.hourly_limit, p.daily_limit INTO hourly, daily
    FROM providers_smtpprovider p WHERE p.id = provider;
    IF hourly IS NOT NULL OR daily IS NOT NULL THEN
        PERFORM 1 FROM providers_smtpprovider p WHERE p.id = provider FOR NO KEY UPDATE;
    END IF;
END;
$$;

-- PL/pgSQL rather than SQL functions: PL/pgSQL keeps each statement's plan for the session,
-- a SQL function called from one would be planned again on every send.
CREATE OR REPLACE FUNCTION mail_limit_bucket_add(provider bigint, at timestamptz, delta integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mail_sendlimitbucket (provider_id, minute, taken)
    VALUES (provider, date_trunc('minute', at), delta)
    ON CONFLICT (provider_id, minute)
    DO UPDATE SET taken = mail_sendlimitbucket.taken + EXCLUDED.taken;
END;
$$;

-- One window of a provider, from window_start on: the slots of its whole minutes from the
-- buckets, those of the minute it starts in from the messages themselves (at most a minute
-- of the mail_msg_limit_window index), and its oldest slot. Counted by the single send's
-- trigger and by mail.limits (the drain's reserve); the caller holds the mutex.
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
        (SELECT min(m.limit_counted_at) FROM mail_message m
         WHERE m.provider_id = provider AND m.limit_counted_at IS NOT NULL
           AND m.limit_counted_at > window_start)
    INTO used, oldest;
END;
$$;

CREATE OR REPLACE FUNCTION mail_limit_bucket_move(provider bigint, at timestamptz, delta integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    limits record;
BEGIN
    IF provider IS NULL THEN
        RETURN;
    END IF;
    limits := mail_limit_lock(provider);
    IF limits.hourly IS NOT NULL OR limits.daily IS NOT NULL THEN
        PERFORM mail_limit_bucket_add(provider, at, delta);
    END IF;
END;
$$;

-- A slot moved (the drain's stamp, a failure or cancel giving it back, another provider) or
-- a stamped row deleted.
CREATE OR REPLACE FUNCTION mail_message_limit_slot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.limit_counted_at IS NOT NULL THEN
        PERFORM mail_limit_bucket_move(OLD.provider_id, OLD.limit_counted_at, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.limit_counted_at IS NOT NULL THEN
        PERFORM mail_limit_bucket_move(NEW.provider_id, NEW.limit_counted_at, 1);
    END IF;
    RETURN NULL;
END;
$$;

-- A stamped row inserted: its slot taken, before the row is written. A row inserted as
-- "sending" is a single send taking its slot now (mail.services.message_send): the windows
-- are checked here, under the provider's lock, and a full one fails the whole statement
-- (SQLSTATE MP429, the window in DETAIL) so that nothing is stored. The windows end at the
-- row's stamp; their lengths are mail.limits.WINDOWS. The tightest window is left in the
-- transaction's setting mailpass.send_limit for the statement's RETURNING.
CREATE OR REPLACE FUNCTION mail_message_limit_take() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hourly integer;
    daily integer;
    window_name text;
    window_limit integer;
    window_length interval;
    window_start timestamptz;
    used bigint;
    oldest timestamptz;
    reset_at timestamptz;
    remaining bigint;
    tightest jsonb;
    exceeded jsonb;
BEGIN
    IF NEW.provider_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT l.hourly, l.daily INTO hourly, daily FROM mail_limit_lock(NEW.provider_id) l;
    IF hourly IS NULL AND daily IS NULL THEN
        RETURN NEW;
    END IF;
    PERFORM mail_limit_bucket_add(NEW.provider_id, NEW.limit_counted_at, 1);
    IF NEW.status <> 'sending' THEN
        RETURN NEW;
    END IF;
    FOR window_name, window_limit, window_length IN
        VALUES ('hourly', hourly, interval '1 hour'), ('daily', daily, interval '24 hours')
    LOOP
        CONTINUE WHEN window_limit IS NULL;
        window_start := NEW.limit_counted_at - window_length;
        -- This row's own slot is in its bucket already (not yet in mail_message).
        SELECT w.used, w.oldest INTO used, oldest
        FROM mail_limit_window(NEW.provider_id, window_start) w;
        IF used > window_limit THEN
            -- Free once the (used - limit) oldest slots expire; never, with a limit of 0.
            reset_at := NULL;
            IF window_limit > 0 THEN
                SELECT m.limit_counted_at INTO reset_at FROM mail_message m
                WHERE m.provider_id = NEW.provider_id AND m.limit_counted_at IS NOT NULL
                  AND m.limit_counted_at > window_start
                ORDER BY m.limit_counted_at OFFSET used - window_limit - 1 LIMIT 1;
            END IF;
            reset_at := coalesce(reset_at, NEW.limit_counted_at) + window_length;
            IF exceeded IS NULL OR reset_at > (exceeded->>'reset_at')::timestamptz THEN
                exceeded := jsonb_build_object('window', window_name, 'limit', window_limit,
                    'remaining', greatest(0, window_limit - (used - 1)), 'reset_at', reset_at);
            END IF;
        ELSE
            remaining := window_limit - used;
            IF tightest IS NULL OR remaining < (tightest->>'remaining')::bigint THEN
                tightest := jsonb_build_object('window', window_name, 'limit', window_limit,
                    'remaining', remaining,
                    'reset_at', coalesce(oldest, NEW.limit_counted_at) + window_length);
            END IF;
        END IF;
    END LOOP;
    IF exceeded IS NOT NULL THEN
        RAISE EXCEPTION 'send limit reached' USING ERRCODE = 'MP429', DETAIL = exceeded::text;
    END IF;
    PERFORM set_config('mailpass.send_limit', tightest::text, true);
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS mail_message_limit_take ON mail_message;
CREATE TRIGGER mail_message_limit_take BEFORE INSERT ON mail_message
    FOR EACH ROW WHEN (NEW.limit_counted_at IS NOT NULL)
    EXECUTE FUNCTION mail_message_limit_take();
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
    IF NEW.hourly_limit IS NULL AND NEW.daily_limit IS NULL THEN
        -- No lock to wait for here: a sender holding FOR KEY SHARE and queued for the
        -- reservers' mutex (which this UPDATE holds) would deadlock with it. A bucket such a
        -- sender still writes is never read, and a limit set again rebuilds them all.
        DELETE FROM mail_sendlimitbucket WHERE provider_id = NEW.id;
    ELSE
        -- Waits for the senders that read this provider as unlimited (FOR KEY SHARE) to
        -- commit, and keeps new ones out until this transaction ends.
        PERFORM 1 FROM providers_smtpprovider p WHERE p.id = NEW.id FOR UPDATE;
        DELETE FROM mail_sendlimitbucket WHERE provider_id = NEW.id;
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
DROP TRIGGER IF EXISTS mail_message_limit_take ON mail_message;
DROP FUNCTION IF EXISTS mail_message_limit_take();
DROP TRIGGER IF EXISTS mail_message_limit_slot_update ON mail_message;
DROP TRIGGER IF EXISTS mail_message_limit_slot_delete ON mail_message;
DROP FUNCTION IF EXISTS mail_message_limit_slot();
DROP FUNCTION IF EXISTS mail_limit_bucket_move(bigint, timestamptz, integer);
DROP FUNCTION IF EXISTS mail_limit_window(bigint, timestamptz);
DROP FUNCTION IF EXISTS mail_limit_bucket_add(bigint, timestamptz, integer);
DROP FUNCTION IF EXISTS mail_limit_lock(bigint);
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
