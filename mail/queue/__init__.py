"""The batch queue (API.md section 4): enqueue messages, and drain them safely with many workers.

A drain run repeats four steps, one module each:

- ``enqueue``: messages are stored ``queued`` with a queue item (``batch_enqueue``,
  ``queue_enqueue``), and a drain is kicked by task name after COMMIT.
- ``claim``: due items are leased to one worker (``SKIP LOCKED`` plus ``locked_by`` /
  ``locked_until``); an item whose worker died is claimable again once its lease expires.
- ``send``: SMTP, outside any transaction, over one connection per provider per run; each
  claimed item ends as one ``Outcome`` (its kind an ``OutcomeKind``).
- ``record``: outcomes are written fenced by ``locked_by = me AND status = 'sending'``, so a
  worker that outlived its lease cannot overwrite what another worker did.

``drain`` runs the loop (``queue_drain``). Plain functions, no Celery inside: ``mail.tasks`` and
``process_mail_queue`` both call ``queue_drain``. Retry times live in the database
(``next_attempt_at``), never in a Celery countdown.
"""

from mail.queue.claim import Claimed, queue_claim, queue_release, worker_id_make
from mail.queue.drain import queue_drain
from mail.queue.enqueue import (
    QUEUE_DRAIN_TASK,
    BatchItem,
    batch_enqueue,
    queue_drain_kick,
    queue_enqueue,
    queue_requeue,
)
from mail.queue.record import DrainResult, Outcome, OutcomeKind, queue_record, retry_delay

__all__ = [
    "QUEUE_DRAIN_TASK",
    "BatchItem",
    "Claimed",
    "DrainResult",
    "Outcome",
    "OutcomeKind",
    "batch_enqueue",
    "queue_claim",
    "queue_drain",
    "queue_drain_kick",
    "queue_enqueue",
    "queue_record",
    "queue_release",
    "queue_requeue",
    "retry_delay",
    "worker_id_make",
]
