"""Django's PostgreSQL backend with a health check that costs no round trip.

``CONN_HEALTH_CHECKS`` makes Django check a kept connection once per request before using
it; the stock check is a ``SELECT 1``, a round trip on every API request. A connection that
PostgreSQL closed (a restart, a crash, ``pg_terminate_backend``, an idle timeout) says so on
its socket: the server's last message or the end of the stream makes an idle connection's
socket readable, which ``select`` sees at once. So an idle connection whose socket has nothing
to read is usable; anything else gets the stock ``SELECT 1`` or is dropped. A connection that
breaks without a word (a cable pulled) fails its first statement: that request answers 503
(``mailpass.middleware``) and the next one connects anew, as before.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.info.transaction_status != TransactionStatus.IDLE:
            return super().is_usable()  # mid-transaction: ask the server
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        # Nothing is due on an idle connection between requests: anything to read is the
        # server saying goodbye (or, rarely, a notice: reconnecting then costs little).
        return not readable
