"""Signals of the providers app, for apps that keep figures about providers (the dashboard)."""

from django.dispatch import Signal

# Sent after every connection test with ``provider`` and ``check`` (a ConnectionCheck).
connection_checked = Signal()
