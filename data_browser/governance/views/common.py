"""What the governance pages share: finding the experiment a page is about (404 when it is
out of reach, 403 for an action the user may not take) and the page that says why nothing
was changed, and the confirmation of their destructive actions.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from data_browser import access
from data_browser.models import Experiment
from hyperstudy_dash.confirm import Confirmation, confirmation_page


def experiment_for(request: HttpRequest, public_id: str) -> tuple[Experiment, bool]:
    """The experiment whose access page the user may open, and whether they may change it.

    Owners and lab admins manage; collaborators read; everyone else gets a 404.
    """
    reader = access.for_request(request)
    managed = reader.experiments(action=access.MANAGE).filter(public_id=public_id).first()
    if managed is not None:
        return managed, True
    member = reader.experiment(public_id)
    if not reader.is_member(member):
        raise Http404("No such experiment")
    return member, False


def owned_experiment(request: HttpRequest, public_id: str) -> Experiment:
    """For owner-only actions: 404 if the user cannot see the experiment, 403 if not an owner."""
    experiment, _ = experiment_for(request, public_id)
    if not access.for_request(request).is_owner(experiment):
        raise PermissionDenied("Only the experiment's owners may do this.")
    return experiment


def managed_experiment(request: HttpRequest, public_id: str) -> Experiment:
    experiment, can_manage = experiment_for(request, public_id)
    if not can_manage:
        raise PermissionDenied("Only owners and lab admins change access.")
    return experiment


def message_page(request: HttpRequest, text: str, back: str, *, status: int) -> HttpResponse:
    return render(
        request,
        "governance/message.html",
        {"title": "Nothing was changed", "text": text, "back": back},
        status=status,
    )


def access_confirmation(
    request: HttpRequest, experiment: Experiment, confirm: Confirmation, title: str
) -> HttpResponse:
    """A confirmation of the experiment's access pages (data deletion, approving a deletion
    request, member removal); nothing has changed yet."""
    crumbs = [
        ("Access", reverse("data_browser:access")),
        (experiment.name, reverse("data_browser:experiment_access", args=[experiment.public_id])),
        (title, ""),
    ]
    return confirmation_page(request, confirm, title=title, nav_section="access", crumbs=crumbs)
