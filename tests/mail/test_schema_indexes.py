"""The send path's tables carry no index that another one already provides.

Every index of ``mail_message`` costs each send two writes (the INSERT, and the ``sent``
update, which is never a HOT update), and an index on a foreign key alone beside a composite
one that leads with it gives the planner a worse choice to make (a provider's send-limit
windows were once counted through ``provider_id`` alone, reading every message of the
provider). Django gives every ``ForeignKey`` an index unless told ``db_index=False``.
"""

import pytest
from django.db import connection

SEND_PATH_TABLES = [
    "mail_message",
    "mail_messageevent",
    "mail_idempotencyrecord",
    "mail_sendlimitbucket",
    "mail_attachmentcontent",
]

# Each index with its columns (and their operator classes: a varchar_pattern_ops index
# serves LIKE, which a default one cannot): leading-prefix pairs where the shorter one is
# neither unique nor partial (a unique or partial index does something the longer one
# cannot).
_REDUNDANT_SQL = """
WITH ix AS (
    SELECT c.relname AS tbl, i.indexrelid::regclass::text AS name,
           ARRAY(SELECT key || ':' || class FROM unnest(i.indkey::int2[], i.indclass::oid[])
                 AS columns(key, class)) AS cols,
           i.indpred IS NOT NULL AS partial, i.indisunique AS is_unique
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    WHERE c.relname = ANY(%s)
)
SELECT a.tbl, a.name, b.name
FROM ix a JOIN ix b ON a.tbl = b.tbl AND a.name <> b.name
WHERE NOT a.partial AND NOT a.is_unique AND NOT b.partial
  AND cardinality(a.cols) <= cardinality(b.cols)
  AND b.cols[1:cardinality(a.cols)] = a.cols
"""


def _catalog_rows(sql: str, params: list | None = None) -> list[tuple]:
    """The rows of a query of PostgreSQL's catalog; the test is skipped on other databases."""
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.mark.django_db
def test_no_index_of_the_send_path_is_the_leading_part_of_another():
    redundant = _catalog_rows(_REDUNDANT_SQL, [SEND_PATH_TABLES])
    assert redundant == [], redundant


@pytest.mark.django_db
def test_the_send_limit_window_index_is_the_only_one_leading_with_the_provider():
    """Partial indexes excepted (their condition excludes a window's count)."""
    rows = _catalog_rows(
        "SELECT i.indexrelid::regclass::text FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE i.indrelid = 'mail_message'::regclass AND a.attname = 'provider_id'"
        " AND i.indpred IS NULL"
    )
    assert [row[0] for row in rows] == ["mail_msg_limit_window"]


@pytest.mark.django_db
def test_no_index_of_the_send_path_serves_only_like_queries():
    """Django's PostgreSQL backend adds a ``*_pattern_ops`` index beside the index of every
    unique or indexed ``CharField``; nothing on these tables runs a case-sensitive ``LIKE``
    (the admin's search is case-insensitive), so such an index is two writes a send for
    nothing (mail migration 0008 dropped ``message_id``'s)."""
    rows = _catalog_rows(
        "SELECT c.relname, i.indexrelid::regclass::text FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_opclass o ON o.oid = ANY(i.indclass::oid[])"
        " WHERE c.relname = ANY(%s) AND o.opcname LIKE '%%pattern_ops'",
        [SEND_PATH_TABLES],
    )
    assert rows == []
