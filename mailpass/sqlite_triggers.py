"""Triggers on SQLite made around migrations rather than by them (the embedded default).

SQLite alters a table by rebuilding it (create, copy, drop, rename): that drops the triggers on
the table and fails while a trigger names a table being renamed. So an app's SQLite trigger is
dropped before ``migrate`` (pre_migrate) and made again after it (post_migrate, also sent after
a test flush), whichever app's migrations rebuild the tables it reads. PostgreSQL alters tables
in place: there the apps' migrations make their triggers.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate, pre_migrate


@dataclass(frozen=True)
class SqliteTrigger:
    name: str
    remove_sql: str
    # Run in order once every table of ``tables`` exists.
    install_sql: Sequence[str]
    tables: frozenset[str]

    def drop(self, *, using: str = "default", **kwargs) -> None:
        connection = connections[using]
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(self.remove_sql)

    def ensure(self, *, using: str = "default", **kwargs) -> None:
        connection = connections[using]
        if connection.vendor != "sqlite":
            return
        if self.tables <= set(connection.introspection.table_names()):
            # A plain cursor without parameters: the SQL may hold literal % signs.
            with connection.cursor() as cursor:
                for statement in self.install_sql:
                    cursor.execute(statement)


def sqlite_trigger_around_migrations(app_config: AppConfig, trigger: SqliteTrigger) -> None:
    """Drop ``trigger`` before every migrate and make it after its app's post_migrate."""
    pre_migrate.connect(trigger.drop, weak=False, dispatch_uid=f"{trigger.name}-sqlite-drop")
    post_migrate.connect(
        trigger.ensure, sender=app_config, weak=False, dispatch_uid=f"{trigger.name}-sqlite-ensure"
    )
