"""Participants' requests about their own data ("Request my data"): a copy of it or its
deletion, made by the participant and decided by an owner.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from data_browser import access, audit
from data_browser.models import DataRequest, Experiment, Profile
from data_browser.signals import own_copy_requested

from .deletion import NothingToDelete, Scope, delete_data
from .rules import GovernanceError, check_choice, lock, require_owner


def participant_experiments(user: Any):
    """Experiments the participant account took part in."""
    reader = access.for_user(user)
    if reader.own_participant is None:
        return Experiment.objects.none()
    return reader.experiments()


def create_request(
    user: Any, experiment: Experiment, kind: str, *, request: HttpRequest | None = None
) -> DataRequest:
    participant = access.participant_of(user)
    if participant is None or not participant_experiments(user).filter(pk=experiment.pk).exists():
        raise PermissionDenied("Only participants of this experiment can make requests.")
    check_choice(kind, DataRequest.Kind, "request")
    if not experiment.allow_participant_requests:
        raise GovernanceError("This experiment does not take requests from participants.")
    with transaction.atomic():
        lock(experiment)
        if DataRequest.objects.filter(
            participant=participant,
            experiment=experiment,
            kind=kind,
            status=DataRequest.Status.PENDING,
        ).exists():
            raise GovernanceError("You already have a pending request of this kind.")
        dr = DataRequest.objects.create(
            participant=participant, experiment=experiment, kind=kind, requested_by=user
        )
        audit.record(
            "data_request.created",
            actor=user,
            request=request,
            experiment=experiment,
            scope=Scope(experiment, participant=participant).label,
            details={"request": dr.pk, "kind": kind},
        )
    return dr


def pending_requests(experiment: Experiment):
    return DataRequest.objects.filter(experiment=experiment, status=DataRequest.Status.PENDING)


def decide_request(
    actor: Any,
    data_request: DataRequest,
    *,
    approve: bool,
    note: str = "",
    request: HttpRequest | None = None,
) -> DataRequest:
    """Approving an access request prepares an export of the participant's own records (others
    anonymized); approving a deletion request deletes their data in the experiment."""
    experiment = data_request.experiment
    require_owner(actor, experiment)
    with transaction.atomic():
        dr = DataRequest.objects.select_for_update().get(pk=data_request.pk)
        if dr.status != DataRequest.Status.PENDING:
            raise GovernanceError(
                f"This request was already {dr.get_status_display().lower()}"
                f"{f' on {dr.decided_at:%Y-%m-%d}' if dr.decided_at else ''}."
            )
        scope = Scope(experiment, participant=dr.participant)
        outcome: dict[str, Any] = {}
        if approve and dr.kind == DataRequest.Kind.DELETION:
            try:
                plan = delete_data(
                    actor, scope, reason=f"participant request {dr.pk}", request=request
                )
                outcome["records_deleted"] = plan.records
            except NothingToDelete:
                outcome["records_deleted"] = 0
        dr.status = DataRequest.Status.APPROVED if approve else DataRequest.Status.DECLINED
        dr.decided_at = timezone.now()
        dr.decided_by = actor
        dr.note = note
        dr.save(update_fields=["status", "decided_at", "decided_by", "note"])
        if approve and dr.kind == DataRequest.Kind.ACCESS:
            outcome["export"] = str(participant_export(dr).public_id)
        audit.record(
            f"data_request.{dr.status}",
            actor=actor,
            request=request,
            experiment=experiment,
            scope=scope.label,
            details={"request": dr.pk, "kind": dr.kind, **outcome},
        )
    return dr


def participant_export(dr: DataRequest, *, request: HttpRequest | None = None) -> Any:
    """Start the export of an approved access request, owned by the participant's account so
    that it appears under their exports and only they download it (the exports app builds it:
    their own records, their own id kept, everyone else's identifiers removed)."""
    account = Profile.objects.filter(participant=dr.participant, user__is_active=True).first()
    if account is None:
        raise GovernanceError("The participant has no active account to receive the export.")
    answers = own_copy_requested.send(
        sender=DataRequest, data_request=dr, user=account.user, request=request
    )
    started = [job for _, job in answers if job is not None]
    if not started:
        raise GovernanceError("Copies of data cannot be prepared here: exports are not installed.")
    return started[0]
