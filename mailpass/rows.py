"""Model instances from hand-written SQL, for the few queries on every request's path.

Building a query with the ORM (compiling the ``SELECT`` with its joins, cloning querysets)
costs more CPU than PostgreSQL spends answering it: on ``POST /send`` it was the largest part
of authentication. A statement written once, and rows turned into instances the way the ORM
does it (``Model.from_db`` and each column's converters), gives the same instances for less.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model


def db_connection() -> BaseDatabaseWrapper:
    """This thread's default connection itself, for code on every request's path.

    ``django.db.connection`` is a proxy that looks the thread's connection up again on each
    attribute read (an ``asgiref`` context-local lookup): about 50 such reads a send.
    """
    return connections[DEFAULT_DB_ALIAS]


@dataclass(frozen=True)
class ModelColumns:
    """Columns of ``model`` under a table alias, in the order ``from_db`` takes them: every
    concrete one, or the primary key and ``names`` (the others deferred, as with
    ``QuerySet.only``)."""

    model: type[Model]
    alias: str
    names: tuple[str, ...] | None = None

    @property
    def fields(self) -> list:
        if self.names is None:
            return list(self.model._meta.concrete_fields)
        meta = self.model._meta
        wanted = {meta.pk.name, *self.names}
        # In the model's order: ``from_db`` matches values to fields in that order.
        return [field for field in meta.concrete_fields if field.name in wanted]

    def select_sql(self) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    def width(self) -> int:
        return len(self.fields)


class RowReader:
    """Turns slices of a row into instances, applying the converters the ORM would apply.

    Made once per connection vendor and columns (the converters depend on the backend).
    """

    def __init__(self, columns: ModelColumns) -> None:
        self.model = columns.model
        self.attnames = [field.attname for field in columns.fields]
        self.converters: list[list[Callable[..., Any]]] = []
        self.expressions = []
        for field in columns.fields:
            col = field.get_col(columns.alias)
            self.expressions.append(col)
            self.converters.append(
                connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            )

    def instance(self, values: Sequence[Any]) -> Model:
        db = db_connection()
        converted = []
        for value, converters, expression in zip(
            values, self.converters, self.expressions, strict=True
        ):
            for converter in converters:
                value = converter(value, expression, db)
            converted.append(value)
        return self.model.from_db(db.alias, self.attnames, converted)


class _PreparingCursor(psycopg.Cursor):
    """psycopg's server-binding cursor, preparing every statement it runs.

    Django turns psycopg's preparing off for its connections (``prepare_threshold=None``, for
    connection poolers), and then psycopg ignores ``prepare=True``: it is on for the
    statements of this cursor only (a connection serves one thread at a time).
    """

    def execute(self, query, params=None, *, prepare=None, binary=None):
        threshold = self.connection.prepare_threshold
        self.connection.prepare_threshold = 0
        try:
            return super().execute(query, params, prepare=True, binary=binary)
        finally:
            self.connection.prepare_threshold = threshold


def prepared_cursor() -> Any:
    """A cursor whose statements PostgreSQL plans once per connection and then only runs.

    For the hand-written statements on every request's path: planning the authentication's
    four-table join took 0.27 ms, running it 0.07 ms; and values are bound by the server
    instead of quoted into the SQL. Django's own cursors bind on the client and never prepare.
    It is Django's cursor wrapper around psycopg's server-binding cursor, so errors and
    execute wrappers treat it as any other. Elsewhere (SQLite), and while Django logs
    queries, it is Django's own cursor. Behind PgBouncer in transaction mode, prepared
    statements need PgBouncer 1.21 or later (``max_prepared_statements``).
    """
    db = db_connection()
    if db.vendor != "postgresql" or db.queries_logged:
        # The query log (DEBUG, tests capturing queries) shows the SQL with its values, which
        # Django reads from a client-binding cursor only: there, the statement is not prepared.
        return db.cursor()
    # As Django's ``cursor()`` does: the health check of a kept connection (once per request,
    # CONN_HEALTH_CHECKS) comes first, so one PostgreSQL closed is replaced, not used.
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        raw = _PreparingCursor(db.connection)
    return db.make_cursor(raw)
