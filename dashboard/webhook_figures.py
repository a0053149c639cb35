"""Webhook figures for the dashboard (only imported when the webhooks app is installed)."""

from collections.abc import Iterable
from datetime import datetime


def webhook_figures(*, accounts: Iterable[int] | None, since: datetime) -> tuple[int, list]:
    return 0, []
