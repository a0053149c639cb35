"""MailPass: a self-hostable transactional email API."""

from mailpass.celery import app as celery_app

__all__ = ["celery_app"]
