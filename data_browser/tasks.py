from __future__ import annotations

from celery import shared_task
from django.core.cache import cache


@shared_task
def heartbeat(token: str) -> None:
    """Answer ``worker_check``: proves a worker is consuming the broker."""
    cache.set(f"heartbeat:{token}", "ok", timeout=300)
