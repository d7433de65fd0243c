"""The Access pages: the experiments a user belongs to, and one experiment's members, their
rights and its owners.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from data_browser import access
from data_browser.models import Experiment, Membership
from hyperstudy_dash.confirm import Confirmation, confirmed

from .. import forms
from ..data_requests import pending_requests
from ..memberships import (
    add_member,
    change_member,
    removal_counts,
    removal_refused,
    remove_member,
    share_ownership,
)
from ..rules import GovernanceError
from .common import access_confirmation, experiment_for, managed_experiment


@login_required
def access_index(request: HttpRequest) -> HttpResponse:
    """Lab admins land on the lab page; everyone else sees the experiments they belong to."""
    if access.is_lab_admin(request.user):
        return redirect("data_browser:lab_access")
    memberships = sorted(
        access.for_request(request).memberships.values(), key=lambda m: m.experiment.name
    )
    return render(
        request,
        "governance/access_index.html",
        {"memberships": memberships, "nav_section": "access", "title": "Access"},
    )


def _access_context(request: HttpRequest, experiment: Experiment, can_manage: bool) -> dict:
    reader = access.for_request(request)
    is_owner = reader.is_owner(experiment)
    members = (
        Membership.objects.filter(experiment=experiment)
        .select_related("user")
        .order_by("-role", "user__username")
    )
    return {
        "title": f"Access · {experiment.name}",
        "nav_section": "access",
        "experiment": experiment,
        "members": members,
        "can_manage": can_manage,
        "is_owner": is_owner,
        "me": request.user,
        "add_form": forms.AddMemberForm(),
        "ownership_form": forms.OwnershipForm(),
        "retention_form": forms.RetentionForm(
            initial={"retention_until": experiment.retention_until}
        ),
        "rights": forms.ChangeMemberForm.base_fields["export_right"].choices,
        "roles": forms.ChangeMemberForm.base_fields["role"].choices,
        "pending": pending_requests(experiment).select_related("participant") if is_owner else [],
        "self_member": reader.membership(experiment),
        "is_lab_admin": access.is_lab_admin(request.user),
    }


def access_page(
    request: HttpRequest, experiment: Experiment, *, status: int = 200, **overrides: Any
) -> HttpResponse:
    _, can_manage = experiment_for(request, experiment.public_id)
    context = _access_context(request, experiment, can_manage)
    context.update(overrides)
    return render(request, "governance/experiment_access.html", context, status=status)


def back_to_access(experiment: Experiment) -> HttpResponse:
    return redirect("data_browser:experiment_access", experiment.public_id)


@login_required
def experiment_access(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment, _ = experiment_for(request, experiment_id)
    return access_page(request, experiment)


@login_required
@require_POST
def member_add(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = managed_experiment(request, experiment_id)
    form = forms.AddMemberForm(request.POST)
    if form.is_valid():
        try:
            m = add_member(
                request.user,
                experiment,
                form.cleaned_data["identifier"],
                role=form.cleaned_data["role"],
                export_right=form.cleaned_data["export_right"],
                request=request,
            )
        except GovernanceError as exc:
            form.add_error("identifier", str(exc))
        else:
            messages.success(request, f"{m.user.get_username()} now has access.")
            return back_to_access(experiment)
    return access_page(request, experiment, status=400, add_form=form)


def _membership(experiment: Experiment, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "experiment"),
        pk=membership_id,
        experiment=experiment,
    )


@login_required
@require_POST
def member_change(request: HttpRequest, experiment_id: str, membership_id: int) -> HttpResponse:
    experiment, can_manage = experiment_for(request, experiment_id)
    membership = _membership(experiment, membership_id)
    if not can_manage:
        raise PermissionDenied("Only owners and lab admins change access; nobody their own.")
    form = forms.ChangeMemberForm(request.POST)
    if not form.is_valid():
        return access_page(request, experiment, status=400, change_errors=form.errors)
    try:
        change_member(request.user, membership, request=request, **form.cleaned_data)
    except GovernanceError as exc:
        return access_page(request, experiment, status=400, change_errors={"": [str(exc)]})
    messages.success(request, f"Access of {membership.user.get_username()} changed.")
    return back_to_access(experiment)


@login_required
@require_POST
def member_remove(request: HttpRequest, experiment_id: str, membership_id: int) -> HttpResponse:
    experiment = managed_experiment(request, experiment_id)
    membership = _membership(experiment, membership_id)
    if not confirmed(request):
        if refused := removal_refused(membership):  # no confirmation of what cannot be done
            return access_page(request, experiment, status=400, change_errors={"": [refused]})
        confirm = _removal_confirmation(request, experiment, membership)
        return access_confirmation(request, experiment, confirm, confirm.label)
    try:
        remove_member(request.user, membership, request=request)
    except GovernanceError as exc:
        return access_page(request, experiment, status=400, change_errors={"": [str(exc)]})
    messages.success(request, f"{membership.user.get_username()} no longer has access.")
    if membership.user_id == request.user.pk and not access.for_user(request.user).can_manage(
        experiment
    ):
        return redirect("data_browser:access")
    return back_to_access(experiment)


def _removal_confirmation(
    request: HttpRequest, experiment: Experiment, membership: Membership
) -> Confirmation:
    """What removing a membership takes away: the access, the keys that read the experiment
    through it, the exports of it still running."""
    counts = removal_counts(membership)
    name = membership.user.get_username()
    own = membership.user_id == request.user.pk
    return Confirmation(
        heading=f"Leave {experiment.name}?" if own else f"Remove {name} from {experiment.name}?",
        rows=[
            (f"Membership of {name} ({membership.get_role_display().lower()})", 1),
            ("Their API keys that read this experiment (they stop reading it)", counts["keys"]),
            ("Their exports of it still running (they end, denied)", counts["exports"]),
        ],
        back=reverse("data_browser:experiment_access", args=[experiment.public_id]),
        label="Leave the experiment" if own else f"Remove {name}",
        intro="This removes, at once:",
        lines=[
            f"{'You' if own else name} no longer see{'' if own else 's'} the experiment: its "
            "pages, its data through the API and new exports.",
            "An owner can give the access back later; the audit log keeps the removal.",
        ],
    )


@login_required
@require_POST
def ownership(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = managed_experiment(request, experiment_id)
    form = forms.OwnershipForm(request.POST)
    if form.is_valid():
        transfer = form.cleaned_data["mode"] == forms.OwnershipForm.TRANSFER
        try:
            m = share_ownership(
                request.user,
                experiment,
                form.cleaned_data["identifier"],
                transfer=transfer,
                request=request,
            )
        except GovernanceError as exc:
            form.add_error("identifier", str(exc))
        else:
            messages.success(request, f"{m.user.get_username()} is now an owner.")
            return back_to_access(experiment)
    return access_page(request, experiment, status=400, ownership_form=form)
