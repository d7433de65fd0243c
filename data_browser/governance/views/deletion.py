"""Deletion: a confirmation page that counts what will go, then its own POST."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse

from data_browser import access
from data_browser.models import RoomParticipant
from hyperstudy_dash.confirm import Confirmation, confirmed

from ..deletion import (
    NothingToDelete,
    Plan,
    Scope,
    delete_data,
    earlier_participant_deletion,
    earlier_room_deletion,
    plan_deletion,
)
from .common import access_confirmation, message_page, owned_experiment


@login_required
def manage_data(request: HttpRequest, experiment_id: str) -> HttpResponse:
    """The rooms and participants of an experiment, each with its delete link."""
    experiment = owned_experiment(request, experiment_id)
    rooms = (
        access.for_request(request)
        .rooms()
        .filter(experiment=experiment)
        .annotate(people=Count("room_participants"))
        .prefetch_related(
            Prefetch(
                "room_participants",
                queryset=RoomParticipant.objects.select_related("participant"),
            )
        )
        .order_by("started_at")
    )
    return render(
        request,
        "governance/manage_data.html",
        {
            "title": f"Delete data · {experiment.name}",
            "nav_section": "access",
            "experiment": experiment,
            "rooms": rooms,
            "plan": plan_deletion(Scope(experiment)),
        },
    )


def _confirm_or_delete(request: HttpRequest, scope: Scope, what: str, back: str) -> HttpResponse:
    if confirmed(request):
        try:
            plan = delete_data(request.user, scope, request=request)
        except NothingToDelete as exc:
            return message_page(request, str(exc), back, status=400)
        messages.success(request, f"Deleted {what}: {plan.records} records.")
        return redirect(back)
    confirm = plan_confirmation(plan_deletion(scope), what, back)
    return access_confirmation(request, scope.experiment, confirm, f"Delete {what}")


def plan_confirmation(plan: Plan, what: str, back: str, **kw: Any) -> Confirmation:
    """A data deletion's confirmation: its records per data type, files, sessions, exports."""
    rooms = f" in {plan.rooms:,} room{pluralize(plan.rooms)}" if plan.rooms else ""
    empty = None
    if plan.is_empty:
        empty = (
            "There is nothing left to delete here.",
            "Its records were deleted earlier or never arrived.",
        )
    return Confirmation(
        heading=f"Delete {what}?",
        rows=plan.rows(),
        back=back,
        columns=("Data type", "Records"),
        total="Total",
        intro="This removes, permanently and at once (the API and exports stop returning it):",
        lines=[
            f"{plan.files:,} recording file{pluralize(plan.files)}",
            f"{plan.sessions:,} participant session{pluralize(plan.sessions)}{rooms}",
            "every finished export file that contains any of it",
        ],
        note="The audit log keeps the fact of the deletion, with participants named only by "
        "their anonymous codes.",
        empty=empty,
        **kw,
    )


@login_required
def delete_experiment_data(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = owned_experiment(request, experiment_id)
    back = reverse("data_browser:manage_data", args=[experiment.public_id])
    return _confirm_or_delete(
        request, Scope(experiment), f"all data of {experiment.public_id}", back
    )


@login_required
def delete_room(request: HttpRequest, experiment_id: str, room_id: str) -> HttpResponse:
    experiment = owned_experiment(request, experiment_id)
    back = reverse("data_browser:manage_data", args=[experiment.public_id])
    room = access.for_request(request).rooms().filter(experiment=experiment, public_id=room_id)
    room = room.first()
    if room is None:
        earlier = earlier_room_deletion(experiment, room_id)
        if earlier is None:
            raise Http404("No such room")
        text = (
            f"Room {room_id} was already deleted on {earlier.created_at:%Y-%m-%d %H:%M} "
            f"by {earlier.actor_label}."
        )
        return message_page(request, text, back, status=400)
    return _confirm_or_delete(request, Scope(experiment, room=room), f"room {room_id}", back)


@login_required
def delete_participant(
    request: HttpRequest, experiment_id: str, participant_id: str
) -> HttpResponse:
    experiment = owned_experiment(request, experiment_id)
    back = reverse("data_browser:manage_data", args=[experiment.public_id])
    try:
        found = access.for_request(request).participant(participant_id, experiment=experiment)
    except Http404:
        found = None
    participant = found.participant if found is not None else None
    scope = Scope(experiment, participant=participant) if participant else None
    if scope is None or not scope.room_participants().exists():
        earlier = earlier_participant_deletion(experiment, participant_id)
        if earlier is None:
            raise Http404("No such participant")
        text = (
            f"The data of this participant was already deleted on "
            f"{earlier.created_at:%Y-%m-%d %H:%M} by {earlier.actor_label}."
        )
        return message_page(request, text, back, status=400)
    return _confirm_or_delete(request, scope, f"participant {participant_id}", back)
