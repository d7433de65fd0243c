"""Participants' requests, as the experiment's owners see and decide them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from data_browser.models import DataRequest, Experiment
from hyperstudy_dash.confirm import confirmed

from .. import forms
from ..data_requests import decide_request
from ..deletion import Scope, plan_deletion
from ..rules import GovernanceError
from .common import access_confirmation, message_page, owned_experiment
from .deletion import plan_confirmation


@login_required
def experiment_requests(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = owned_experiment(request, experiment_id)
    requests = DataRequest.objects.filter(experiment=experiment).select_related(
        "participant", "decided_by"
    )
    return render(
        request,
        "governance/requests.html",
        {
            "title": f"Participant requests · {experiment.name}",
            "nav_section": "access",
            "experiment": experiment,
            "requests": requests,
        },
    )


@login_required
@require_POST
def request_decide(request: HttpRequest, experiment_id: str, request_id: int) -> HttpResponse:
    experiment = owned_experiment(request, experiment_id)
    data_request = get_object_or_404(DataRequest, pk=request_id, experiment=experiment)
    form = forms.DecideForm(request.POST)
    back = reverse("data_browser:experiment_requests", args=[experiment.public_id])
    if not form.is_valid():
        return message_page(request, "The decision was not understood.", back, status=400)
    approve = form.cleaned_data["decision"] == "approve"
    if _deletion_unconfirmed(request, data_request, approve):
        return _confirm_request_deletion(request, experiment, data_request, form, back)
    try:
        dr = decide_request(
            request.user,
            data_request,
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
            request=request,
        )
    except GovernanceError as exc:
        return message_page(request, str(exc), back, status=400)
    messages.success(request, f"Request {dr.get_status_display().lower()}.")
    return redirect(back)


def _deletion_unconfirmed(request: HttpRequest, data_request: DataRequest, approve: bool) -> bool:
    """Approving a pending deletion request deletes data: it needs the confirmation page's own
    POST (``confirmed``), like every other deletion."""
    return (
        approve
        and data_request.kind == DataRequest.Kind.DELETION
        and data_request.status == DataRequest.Status.PENDING
        and not confirmed(request)
    )


def _confirm_request_deletion(
    request: HttpRequest, experiment: Experiment, data_request: DataRequest, form, back: str
) -> HttpResponse:
    """The counts of what approving will delete; nothing has changed yet."""
    plan = plan_deletion(Scope(experiment, participant=data_request.participant))
    confirm = plan_confirmation(
        plan,
        f"the data of participant {data_request.participant.public_id}",
        back,
        action=reverse("data_browser:request_decide", args=[experiment.public_id, data_request.pk]),
        fields={"decision": "approve", "note": form.cleaned_data["note"]},
        label="Approve and delete permanently",
        act_when_empty=True,
    )
    if plan.is_empty:
        confirm.empty = (
            "There is nothing left to delete here.",
            "Its records were deleted earlier or never arrived; approving still records the "
            "decision and tells the participant.",
        )
    return access_confirmation(request, experiment, confirm, "Approve the deletion request")
