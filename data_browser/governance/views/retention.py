"""An owner's deletion date and status changes, posted from the experiment's Access page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from .. import forms
from ..retention import archive, complete, restore, set_retention
from ..rules import GovernanceError
from .common import owned_experiment
from .memberships import access_page, back_to_access


@login_required
@require_POST
def retention(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = owned_experiment(request, experiment_id)
    form = forms.RetentionForm(request.POST)
    if form.is_valid():
        try:
            set_retention(
                request.user, experiment, form.cleaned_data["retention_until"], request=request
            )
        except GovernanceError as exc:
            form.add_error("retention_until", str(exc))
        else:
            until = experiment.retention_until
            messages.success(
                request,
                f"Data will be deleted after {until:%Y-%m-%d}."
                if until
                else "No deletion date is set.",
            )
            return back_to_access(experiment)
    return access_page(request, experiment, status=400, retention_form=form)


@login_required
@require_POST
def experiment_status(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = owned_experiment(request, experiment_id)
    form = forms.StatusForm(request.POST)
    if not form.is_valid():
        return access_page(request, experiment, status=400, status_errors=form.errors)
    change = {"complete": complete, "archive": archive, "restore": restore}
    try:
        change[form.cleaned_data["action"]](request.user, experiment, request=request)
    except GovernanceError as exc:
        return access_page(request, experiment, status=400, status_errors={"": [str(exc)]})
    messages.success(request, f"{experiment.name} is now {experiment.get_status_display()}.")
    return back_to_access(experiment)
