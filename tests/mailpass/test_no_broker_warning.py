"""With no broker (the embedded default) nothing warns about a missing broker hostname."""

import logging

from django.conf import settings
from kombu import Connection


def test_the_in_memory_broker_url_names_a_host(caplog):
    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        Connection(settings.CELERY_BROKER_URL)._info()

    assert "No hostname was supplied" not in caplog.text
