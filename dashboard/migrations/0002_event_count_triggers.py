"""Triggers that keep the dashboard's counters as events are written.

A trigger, not Python at each call site: events are written by single sends (one raw SQL
statement), the queue drain, tracking, feedback, cancel and suppression, and a counter
maintained beside each of those would drift as soon as one path forgot it. The trigger runs in
the event's own transaction, so a rolled-back event is never counted.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION dashboard_event_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One statement-level pass over the inserted rows: a bulk insert (a batch's queued
    -- events) costs one aggregated upsert, not one per row.
    INSERT INTO dashboard_eventcount (account_id, provider_id, hour, event_type, shard, count)
    SELECT m.account_id,
           COALESCE(m.provider_id, 0),
           date_trunc('hour', COALESCE(e.created_at, now()) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           e.event_type,
           e.id % 4,
           count(*)
    FROM new_events e JOIN mail_message m ON m.id = e.message_id
    WHERE NOT m.is_test
      -- Opens and clicks count messages, not events: only a message's first one counts.
      AND (e.event_type NOT IN ('open', 'click') OR NOT EXISTS (
            SELECT 1 FROM mail_messageevent p
            WHERE p.message_id = e.message_id AND p.event_type = e.event_type AND p.id < e.id))
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (account_id, provider_id, hour, event_type, shard)
    DO UPDATE SET count = dashboard_eventcount.count + EXCLUDED.count;

    INSERT INTO dashboard_providerhealth (provider_id, last_problem_at, last_problem_kind,
                                          last_problem_detail, last_check_detail)
    SELECT DISTINCT ON (m.provider_id) m.provider_id, COALESCE(e.created_at, now()),
           e.event_type, e.detail, ''
    FROM new_events e JOIN mail_message m ON m.id = e.message_id
    WHERE e.event_type IN ('failed', 'deferred') AND m.provider_id IS NOT NULL AND NOT m.is_test
    ORDER BY m.provider_id, e.id DESC
    ON CONFLICT (provider_id) DO UPDATE SET
        last_problem_at = EXCLUDED.last_problem_at,
        last_problem_kind = EXCLUDED.last_problem_kind,
        last_problem_detail = EXCLUDED.last_problem_detail;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS dashboard_event_count ON mail_messageevent;
CREATE TRIGGER dashboard_event_count AFTER INSERT ON mail_messageevent
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_event_count();
"""

POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS dashboard_event_count ON mail_messageevent;
DROP FUNCTION IF EXISTS dashboard_event_count();
"""

# On SQLite the trigger is made around migrations (dashboard/triggers.py), not here.
SQLITE_FORWARD = ["DROP TRIGGER IF EXISTS dashboard_event_count"]

SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS dashboard_event_count"]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor) -> None:
        # A plain cursor without parameters: the SQL has literal % signs (modulo, strftime).
        with schema_editor.connection.cursor() as cursor:
            for statement in statements.get(schema_editor.connection.vendor, []):
                cursor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0001_initial"),
        ("mail", "0003_lifecycle_and_richer_messages"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": [POSTGRES_FORWARD], "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": [POSTGRES_BACKWARD], "sqlite": SQLITE_BACKWARD}),
        ),
    ]
