"""Cancel racing a drainer in another process (API.md s.14): each message is canceled or sent,
never both, and the database decides (PostgreSQL)."""

import collections
import json
import subprocess
import sys

import pytest
from django.db import connection

from mail.models import Message
from tests.mail.conftest import MANAGE_PY

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Cancels every id of the file, in a shuffled order, through the service the endpoint calls;
# prints what each cancel answered.
CANCELLER = """
import json, random, sys
from django.contrib.auth import get_user_model
from mail.services import message_cancel
from mailpass.errors import NotCancelable
ids = json.load(open({path!r}))
random.Random(7).shuffle(ids)
account = get_user_model().objects.get(username="alice")
answers = {{}}
for message_id in ids:
    try:
        answers[message_id] = message_cancel(account=account, message_id=message_id).status
    except NotCancelable as exc:
        answers[message_id] = "not cancelable: " + exc.details["status"]
print(json.dumps(answers))
"""


def test_a_cancel_racing_a_drainer_cancels_or_sends_never_both(
    alice_provider, smtp_server, enqueue, no_kick, child_env, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("two processes on one database: PostgreSQL only")
    messages = enqueue(provider=alice_provider, count=600)
    ids = [m.message_id for m in messages]
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(ids))
    smtp_server.behaviour.data_delay = 0.002  # both at work together for a while

    drainer = subprocess.Popen(
        [sys.executable, MANAGE_PY, "process_mail_queue"],
        env={**child_env, "MAILPASS_QUEUE_BATCH_SIZE": "10"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    canceller = subprocess.Popen(
        [sys.executable, MANAGE_PY, "shell", "-c", CANCELLER.format(path=str(path))],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    drained, cancel_output = drainer.communicate(timeout=180), canceller.communicate(timeout=180)
    assert drainer.returncode == 0, drained
    assert canceller.returncode == 0, cancel_output
    answers = json.loads(cancel_output[0].strip().splitlines()[-1])

    with smtp_server.lock:
        arrivals = collections.Counter(m.message_id for m in smtp_server.messages)
    statuses = dict(Message.objects.values_list("message_id", "status"))
    canceled = {i for i in ids if statuses[i] == "canceled"}
    sent = {i for i in ids if statuses[i] == "sent"}
    assert canceled | sent == set(ids), collections.Counter(statuses.values())
    assert canceled and sent, (len(canceled), len(sent))  # the race really happened
    assert not canceled & set(arrivals)  # a canceled message never reached the server
    assert all(arrivals[i] == 1 for i in sent)  # a sent one arrived exactly once
    # What each cancel answered is what happened.
    for message_id, answer in answers.items():
        expected = "canceled" if message_id in canceled else "not cancelable: "
        assert answer.startswith(expected), (message_id, answer, statuses[message_id])
    assert not any(
        a in ("not cancelable: queued", "not cancelable: scheduled") for a in answers.values()
    )
