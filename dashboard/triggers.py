"""The dashboard's counter trigger on SQLite, made around migrations rather than by them.

Why, and how, in mailpass/sqlite_triggers.py. PostgreSQL alters tables in place: there
migration 0002 makes the trigger.
"""

from mailpass.sqlite_triggers import SqliteTrigger

SQLITE_REMOVE = "DROP TRIGGER IF EXISTS dashboard_event_count"

SQLITE_INSTALL = """
CREATE TRIGGER dashboard_event_count AFTER INSERT ON mail_messageevent
FOR EACH ROW
WHEN NOT (NEW.event_type IN ('open', 'click') AND EXISTS (
    SELECT 1 FROM mail_messageevent e
    WHERE e.message_id = NEW.message_id AND e.event_type = NEW.event_type AND e.id < NEW.id))
BEGIN
    INSERT INTO dashboard_eventcount (account_id, provider_id, hour, event_type, shard, count)
    SELECT m.account_id, COALESCE(m.provider_id, 0),
           strftime('%Y-%m-%d %H:00:00', COALESCE(NEW.created_at, CURRENT_TIMESTAMP)),
           NEW.event_type, NEW.id % 4, 1
    FROM mail_message m WHERE m.id = NEW.message_id AND NOT m.is_test
    ON CONFLICT (account_id, provider_id, hour, event_type, shard)
    DO UPDATE SET count = count + 1;
    INSERT INTO dashboard_providerhealth (provider_id, last_problem_at, last_problem_kind,
                                          last_problem_detail, last_check_detail)
    SELECT m.provider_id, COALESCE(NEW.created_at, CURRENT_TIMESTAMP), NEW.event_type,
           NEW.detail, ''
    FROM mail_message m
    WHERE m.id = NEW.message_id AND NOT m.is_test AND m.provider_id IS NOT NULL
      AND NEW.event_type IN ('failed', 'deferred')
    ON CONFLICT (provider_id) DO UPDATE SET
        last_problem_at = excluded.last_problem_at,
        last_problem_kind = excluded.last_problem_kind,
        last_problem_detail = excluded.last_problem_detail;
END
"""

SQLITE_TRIGGER = SqliteTrigger(
    name="dashboard_event_count",
    remove_sql=SQLITE_REMOVE,
    install_sql=[SQLITE_REMOVE, SQLITE_INSTALL],
    tables=frozenset(
        {"mail_message", "mail_messageevent", "dashboard_eventcount", "dashboard_providerhealth"}
    ),
)
