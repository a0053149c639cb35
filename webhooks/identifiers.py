"""``webhook-id`` values: ``msg_`` and 32 hex characters (the trigger makes the same shape)."""

import secrets


def webhook_id_generate() -> str:
    return "msg_" + secrets.token_hex(16)
