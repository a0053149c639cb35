"""Drop the ``varchar_pattern_ops`` index Django's PostgreSQL backend adds beside the unique
index of ``Message.message_id`` (PostgreSQL only; SQLite has no such index).

It serves only case-sensitive ``LIKE 'prefix%'`` queries, and nothing runs one: messages are
found by their whole ``message_id`` (the unique index), and the admin's search is
case-insensitive (``UPPER(...) LIKE``), which this index cannot serve. Yet every send wrote
it twice: on its INSERT and on its ``sent`` update, which is never a HOT update (it changes
indexed columns), so the new row version enters every index of ``mail_message``.

Django's state never knew of the index (the backend makes it from ``unique=True``), so
nothing else changes; a later ``AlterField`` of the column drops it "IF EXISTS".
"""

from django.db import migrations

LIKE_INDEX = "mail_message_message_id_fd6a0095_like"


def like_index_drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {LIKE_INDEX}")


def like_index_create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {LIKE_INDEX} ON mail_message "
            "(message_id varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [("mail", "0007_message_indexes")]

    operations = [migrations.RunPython(like_index_drop, like_index_create, elidable=False)]
