"""Log records as a lab admin wants to read them.

Refusals the product means to give (403, 404, 429) are one line each: Django logs them with
the exception that caused them, which the console would print as a traceback for every
forbidden or missing page. ``LOG_FORMAT=json`` gives one JSON object a line for a log
collector; the Celery worker's handlers get the same formatter when it sets up its logging.
"""

from __future__ import annotations

import logging

from celery.signals import after_setup_logger, after_setup_task_logger
from django.conf import settings

EXPECTED_REFUSALS = {403, 404, 405, 429}
RESERVED = [*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "request", "message"]


class QuietRefusals(logging.Filter):
    """Drops the traceback of an expected refusal; the line itself stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in EXPECTED_REFUSALS:
            record.exc_info = None
            record.exc_text = None
        return True


def json_formatter() -> logging.Formatter:
    """Time, level, logger and message, plus whatever a call passed in ``extra``; the request
    object Django adds is left out (its repr says nothing a collector can use)."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        reserved_attrs=RESERVED,
    )


@after_setup_logger.connect
@after_setup_task_logger.connect
def _worker_format(logger: logging.Logger, **kwargs) -> None:
    if settings.LOG_FORMAT == "json":
        for handler in logger.handlers:
            handler.setFormatter(json_formatter())
