from __future__ import annotations

import secrets
import time

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser

from data_browser.tasks import heartbeat


class Command(BaseCommand):
    help = "Send a task through the broker and wait until a Celery worker has run it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args, timeout: float, **options) -> None:
        token = secrets.token_hex(8)
        heartbeat.delay(token)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cache.get(f"heartbeat:{token}") == "ok":
                self.stdout.write("worker ok")
                return
            time.sleep(0.2)
        raise CommandError(f"no Celery worker answered within {timeout:.0f}s")
