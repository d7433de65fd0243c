"""My data: a participant's own sessions and records, and their requests about them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from data_browser import access
from data_browser import datatypes as T
from data_browser.identity import Policy, by_experiment, participant_code, person
from data_browser.media import signed_url
from data_browser.models import DataRequest, Participant
from hyperstudy_dash.htmx import render_page

from .. import forms
from ..data_requests import create_request, participant_experiments, participant_export
from ..rules import GovernanceError
from .common import message_page

MY_DATA_PAGE_SIZE = 50


def _participant(request: HttpRequest) -> Participant:
    participant = access.participant_of(request.user)
    if participant is None:
        raise Http404("This account is not a participant")
    return participant


def _own_records(
    request: HttpRequest, participant: Participant, dt: T.DataType, page_number: Any
) -> Any:
    """A page of the participant's own records as their copy of their data holds them
    ("Request my data"): their own id, name and words kept, everyone else by code."""
    reader = access.for_request(request)
    qs = reader.records(dt).filter(participant=participant).order_by("timestamp")
    page = Paginator(T.select(dt, qs), MY_DATA_PAGE_SIZE).get_page(page_number)
    rows = list(page.object_list)
    records = list(T.to_records(dt, rows, url_for=lambda name: signed_url(request, name)))
    own = person(participant)
    policies = {r["experimentId"]: Policy.own_copy(r["experimentId"], own) for r in records}
    page.records = [
        [(f.name, clean.get(f.name)) for f in dt.fields]
        for clean in by_experiment(policies, dt, records)
    ]
    return page


def _sessions(request: HttpRequest, participant: Participant) -> list[tuple[Any, list]]:
    """The participant's sessions, latest first, each with its co-participants as (role,
    code)."""
    reader = access.for_request(request)
    sessions = (
        reader.room_participants()
        .filter(participant=participant)
        .select_related("room__experiment")
        .order_by("-room__started_at")
    )
    others = (
        reader.room_participants()
        .filter(room_id__in=sessions.values("room_id"))
        .exclude(participant=participant)
        .select_related("participant", "room__experiment")
    )
    co: dict[int, list] = {}
    for rp in others:
        code = participant_code(rp.room.experiment.public_id, rp.participant.public_id)
        co.setdefault(rp.room_id, []).append((rp.role, code))
    return [(s, co.get(s.room_id, [])) for s in sessions]


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    """The page, or its records region for a tab or page change; what only the whole page
    shows (sessions, requests) is read when the template reaches it."""
    participant = _participant(request)
    dt = T.BY_KEY.get(request.GET.get("type", ""), T.EVENTS)
    context = {
        "title": "My data",
        "nav_section": "my_data",
        "participant": participant,
        "data_types": T.DATA_TYPES,
        "dt": dt,
        "page": _own_records(request, participant, dt, request.GET.get("page")),
        "columns": dt.fields,
        "sessions": lambda: _sessions(request, participant),
        "experiments": lambda: participant_experiments(request.user),
        "my_requests": DataRequest.objects.filter(participant=participant).select_related(
            "experiment"
        ),
    }
    return render_page(request, "governance/my_data.html", context, partial="records")


@login_required
@require_POST
def my_data_export(request: HttpRequest, request_id: int) -> HttpResponse:
    """Prepare the copy of an approved request again (after it expired or failed)."""
    participant = _participant(request)
    dr = get_object_or_404(
        DataRequest,
        pk=request_id,
        participant=participant,
        kind=DataRequest.Kind.ACCESS,
        status=DataRequest.Status.APPROVED,
    )
    try:
        job = participant_export(dr, request=request)
    except GovernanceError as exc:
        return message_page(request, str(exc), reverse("data_browser:my_data"), status=400)
    return redirect("exports:detail", job.public_id)


@login_required
@require_POST
def my_data_request(request: HttpRequest) -> HttpResponse:
    _participant(request)
    form = forms.DataRequestForm(request.POST)
    back = reverse("data_browser:my_data")
    if not form.is_valid():
        return message_page(request, "Choose what you are asking for.", back, status=400)
    experiment = (
        participant_experiments(request.user)
        .filter(public_id=form.cleaned_data["experiment"])
        .first()
    )
    if experiment is None:
        raise Http404("No such experiment")
    try:
        dr = create_request(request.user, experiment, form.cleaned_data["kind"], request=request)
    except GovernanceError as exc:
        return message_page(request, str(exc), back, status=400)
    messages.success(
        request,
        f"Your request ({dr.get_kind_display().lower()}) was sent to the researchers.",
    )
    return redirect(back)
