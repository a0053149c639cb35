"""The outbox fan-out: a database trigger AFTER INSERT ON mail_messageevent.

Events are written in many places (single sends with one raw SQL statement, the queue drain,
tracking's raw SQL, provider feedback, DSNs, cancel, suppression). A trigger is the one place no
writer can bypass: each event row of a type of section 17 gets one delivery row per active
endpoint of the message's account subscribed to it, in the same transaction as the event. The
lookup is one probe of the partial index ``webhooks_endpoint_active`` (account_id WHERE active),
so an account without endpoints pays almost nothing.

``message_status`` (``data.status`` of the payload) is fixed here, as of the event: the status the
event implies (sent, failed, suppressed, canceled; delivered and bounced when they concern the
``to`` address) else the message's status at that moment (a ``deferred`` of a message still
``sending`` means it goes back to ``queued``).
"""

from mailpass.sqlite_triggers import SqliteTrigger

# Frozen here (migrations must not change when code does); a test checks that it equals
# webhooks.events.WEBHOOK_EVENT_TYPES.
WEBHOOK_EVENT_TYPES = {
    "sent": "message.sent",
    "delivered": "message.delivered",
    "deferred": "message.deferred",
    "failed": "message.failed",
    "bounced": "message.bounced",
    "complained": "message.complained",
    "open": "message.opened",
    "click": "message.clicked",
    "suppressed": "message.suppressed",
    "canceled": "message.canceled",
}


def _type_case(column: str) -> str:
    whens = " ".join(
        f"WHEN '{event_type}' THEN '{webhook_type}'"
        for event_type, webhook_type in WEBHOOK_EVENT_TYPES.items()
    )
    return f"CASE {column} {whens} ELSE NULL END"


_STATUS_CASE = """
CASE
  WHEN NEW.event_type IN ('sent', 'failed', 'suppressed', 'canceled') THEN NEW.event_type
  WHEN NEW.event_type IN ('delivered', 'bounced')
       AND (NEW.recipient = '' OR lower(NEW.recipient) = lower(m.to_email)) THEN NEW.event_type
  WHEN NEW.event_type = 'deferred' AND m.status = 'sending' THEN 'queued'
  ELSE m.status
END
"""

_COLUMNS = (
    "endpoint_id, account_id, event_id, event_type, message_status, webhook_id, status, "
    "attempts, next_attempt_at, locked_by, last_response, last_error, created_at"
)

POSTGRESQL_INSTALL = f"""
CREATE OR REPLACE FUNCTION webhooks_event_fanout() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  hook_type text := {_type_case("NEW.event_type")};
BEGIN
  IF hook_type IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO webhooks_webhookdelivery ({_COLUMNS})
  SELECT e.id, e.account_id, NEW.id, hook_type, {_STATUS_CASE},
         'msg_' || replace(gen_random_uuid()::text, '-', ''), 'pending', 0, NEW.created_at,
         '', '', '', NEW.created_at
  FROM mail_message m
  JOIN webhooks_webhookendpoint e ON e.account_id = m.account_id AND e.active
  WHERE m.id = NEW.message_id
    AND (e.events = '[]'::jsonb OR e.events @> jsonb_build_array(hook_type));
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS webhooks_event_fanout ON mail_messageevent;
CREATE TRIGGER webhooks_event_fanout AFTER INSERT ON mail_messageevent
FOR EACH ROW EXECUTE FUNCTION webhooks_event_fanout();
"""

POSTGRESQL_REMOVE = """
DROP TRIGGER IF EXISTS webhooks_event_fanout ON mail_messageevent;
DROP FUNCTION IF EXISTS webhooks_event_fanout();
"""

_SQLITE_TYPES = ", ".join(f"'{event_type}'" for event_type in WEBHOOK_EVENT_TYPES)

SQLITE_INSTALL = f"""
CREATE TRIGGER IF NOT EXISTS webhooks_event_fanout AFTER INSERT ON mail_messageevent
FOR EACH ROW WHEN NEW.event_type IN ({_SQLITE_TYPES})
BEGIN
  INSERT INTO webhooks_webhookdelivery ({_COLUMNS})
  SELECT e.id, e.account_id, NEW.id, {_type_case("NEW.event_type")}, {_STATUS_CASE},
         'msg_' || lower(hex(randomblob(16))), 'pending', 0, NEW.created_at,
         '', '', '', NEW.created_at
  FROM mail_message m
  JOIN webhooks_webhookendpoint e ON e.account_id = m.account_id AND e.active
  WHERE m.id = NEW.message_id
    AND (json_array_length(e.events) = 0
         OR EXISTS (SELECT 1 FROM json_each(e.events)
                    WHERE json_each.value = {_type_case("NEW.event_type")}));
END;
"""

SQLITE_REMOVE = "DROP TRIGGER IF EXISTS webhooks_event_fanout;"


# On SQLite the trigger is made around migrations, not by them (mailpass/sqlite_triggers.py);
# PostgreSQL alters tables in place: there the migrations make it.


def trigger_install(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_INSTALL)
    elif vendor != "sqlite":  # pragma: no cover - MailPass runs on PostgreSQL or SQLite only
        raise NotImplementedError(f"no webhook trigger for {vendor}")


def trigger_remove(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REMOVE)


SQLITE_TRIGGER = SqliteTrigger(
    name="webhooks_event_fanout",
    remove_sql=SQLITE_REMOVE,
    install_sql=[SQLITE_INSTALL],
    tables=frozenset(
        {
            "mail_message",
            "mail_messageevent",
            "webhooks_webhookendpoint",
            "webhooks_webhookdelivery",
        }
    ),
)
