"""The retention run, scheduled by Celery beat (CELERY_BEAT_SCHEDULE in settings)."""

from __future__ import annotations

from celery import shared_task

from . import retention


@shared_task(name="governance.run_retention")
def run_retention() -> dict[str, int]:
    """Idempotent: a second run on the same day finds nothing left to delete."""
    run = retention.run_retention()
    return {exp: plan.records for exp, plan in run.deleted.items()}
