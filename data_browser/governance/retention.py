"""Retention and the experiment lifecycle: the deletion date an owner sets, the run that
deletes what has passed it (Celery beat, ``manage.py run_retention``), and completing,
archiving and restoring an experiment.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from data_browser import audit
from data_browser.models import Experiment

from .deletion import NothingToDelete, Plan, Scope, delete_data
from .rules import GovernanceError, lock, require_owner


def set_retention(
    actor: Any,
    experiment: Experiment,
    until: date | None,
    *,
    today: date | None = None,
    request: HttpRequest | None = None,
) -> None:
    require_owner(actor, experiment)
    today = today or timezone.localdate()
    if until is not None and until < today:
        raise GovernanceError(f"The deletion date {until:%Y-%m-%d} is in the past.")
    before = experiment.retention_until
    with transaction.atomic():
        Experiment.objects.filter(pk=experiment.pk).update(retention_until=until)
        experiment.retention_until = until
        audit.record(
            "retention.set",
            actor=actor,
            request=request,
            experiment=experiment,
            scope=f"experiment {experiment.public_id}",
            details={
                "before": before.isoformat() if before else None,
                "after": until.isoformat() if until else None,
            },
        )


@dataclass
class RetentionRun:
    today: date
    deleted: dict[str, Plan] = field(default_factory=dict)  # experiment public id -> plan
    completed: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(p.records for p in self.deleted.values())


def run_retention(*, today: date | None = None) -> RetentionRun:
    """Delete the data of every experiment whose retention date has passed. Running it again
    finds nothing left and removes nothing: only the run itself is recorded."""
    today = today or timezone.localdate()
    run = RetentionRun(today=today)
    for experiment in Experiment.objects.filter(retention_until__lt=today).order_by("pk"):
        with contextlib.suppress(NothingToDelete):
            run.deleted[experiment.public_id] = delete_data(
                None, Scope(experiment), reason="retention", check_rights=False
            )
        # Past its date an experiment takes no new data, which would only be deleted again.
        if experiment.status == Experiment.Status.ACTIVE:
            Experiment.objects.filter(pk=experiment.pk).update(status=Experiment.Status.COMPLETED)
            run.completed.append(experiment.public_id)
    audit.record(
        "retention.run",
        scope=f"experiments with a deletion date before {today:%Y-%m-%d}",
        rows=run.records,
        details={
            "today": today.isoformat(),
            "deleted": {exp: plan.counts for exp, plan in run.deleted.items()},
            "completed": run.completed,
        },
    )
    return run


def archive(actor: Any, experiment: Experiment, *, request: HttpRequest | None = None) -> None:
    require_owner(actor, experiment)
    with transaction.atomic():
        exp = lock(experiment)
        if exp.status == Experiment.Status.ARCHIVED:
            raise GovernanceError("This experiment is already archived.")
        exp.status_before_archive, exp.status = exp.status, Experiment.Status.ARCHIVED
        exp.save(update_fields=["status", "status_before_archive"])
        _status_audit("experiment.archived", actor, exp, exp.status_before_archive, request)
    experiment.refresh_from_db()


def restore(actor: Any, experiment: Experiment, *, request: HttpRequest | None = None) -> None:
    require_owner(actor, experiment)
    with transaction.atomic():
        exp = lock(experiment)
        if exp.status != Experiment.Status.ARCHIVED:
            raise GovernanceError("This experiment is not archived.")
        exp.status = exp.status_before_archive or Experiment.Status.ACTIVE
        exp.status_before_archive = ""
        exp.save(update_fields=["status", "status_before_archive"])
        _status_audit("experiment.restored", actor, exp, Experiment.Status.ARCHIVED, request)
    experiment.refresh_from_db()


def complete(actor: Any, experiment: Experiment, *, request: HttpRequest | None = None) -> None:
    require_owner(actor, experiment)
    with transaction.atomic():
        exp = lock(experiment)
        if exp.status != Experiment.Status.ACTIVE:
            raise GovernanceError(
                f"Only an active experiment can be completed (it is {exp.status})."
            )
        exp.status = Experiment.Status.COMPLETED
        exp.save(update_fields=["status"])
        _status_audit("experiment.completed", actor, exp, Experiment.Status.ACTIVE, request)
    experiment.refresh_from_db()


def _status_audit(
    action: str, actor: Any, exp: Experiment, before: str, request: HttpRequest | None
) -> None:
    audit.record(
        action,
        actor=actor,
        request=request,
        experiment=exp,
        scope=f"experiment {exp.public_id}",
        details={"before": before, "after": exp.status},
    )
