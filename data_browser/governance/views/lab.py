"""Lab administration: the lab's accounts, invitations, sign-in locks and API keys."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST

from data_browser import access
from data_browser.api import keys as api_keys
from data_browser.api.dashboard import revocation
from data_browser.models import Membership
from hyperstudy_dash.confirm import confirmation_page, confirmed

from .. import accounts, forms, signin
from ..accounts import revoke_key, set_user_active
from ..rules import GovernanceError
from .common import message_page


def _lab_admin(request: HttpRequest) -> None:
    if not access.is_lab_admin(request.user):
        raise PermissionDenied("Only lab admins manage the lab.")


@login_required
def lab_access(request: HttpRequest) -> HttpResponse:
    _lab_admin(request)
    lab = access.profile(request.user).lab
    users = list(access.lab_users(request.user).select_related("profile").order_by("username"))
    failures = signin.failed_sign_ins([u.username for u in users])
    for u in users:
        u.failed_sign_ins = failures.get(u.username, 0)
    experiments = (
        access.for_request(request)
        .experiments(action=access.MANAGE)
        .filter(lab=lab)
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.select_related("user").order_by(
                    "-role", "user__username"
                ),
            )
        )
        .order_by("name")
    )
    return render(
        request,
        "governance/lab_access.html",
        {
            "title": f"Access · {lab.name}",
            "nav_section": "access",
            "lab": lab,
            "users": users,
            "experiments": experiments,
            "keys": [
                (k, api_keys.status(k))
                for k in access.lab_api_keys(request.user).select_related("user", "revoked_by")
            ],
        },
    )


@login_required
def lab_user_create(request: HttpRequest) -> HttpResponse:
    """Invite a person: their account has no password until they choose one through the link
    mailed to them."""
    _lab_admin(request)
    form = forms.InviteForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user = accounts.invite_user(request.user, request=request, **form.cleaned_data)
            except GovernanceError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    f"{user.get_username()} is invited: the link to choose a password was sent "
                    f"to {user.email}.",
                )
                return redirect("data_browser:lab_access")
        status = 400
    return render(
        request,
        "governance/user_create.html",
        {"title": "Invite a person", "nav_section": "access", "form": form},
        status=status,
    )


def _on_lab_user(act: Callable[[HttpRequest, AbstractBaseUser], str]) -> Callable:
    """A lab admin's POST on one account of the lab, as a view taking the account's id:
    ``act`` does it and says what was done, a refusal is a 400 page with the way back."""

    @login_required
    @require_POST
    @functools.wraps(act)
    def view(request: HttpRequest, user_id: int) -> HttpResponse:
        _lab_admin(request)
        user = get_object_or_404(access.lab_users(request.user), pk=user_id)
        back = reverse("data_browser:lab_access")
        try:
            done = act(request, user)
        except GovernanceError as exc:
            return message_page(request, str(exc), back, status=400)
        messages.success(request, done)
        return redirect(back)

    return view


@_on_lab_user
def lab_user_password_reset(request: HttpRequest, user: AbstractBaseUser) -> str:
    accounts.send_password_reset(request.user, user, request=request)
    return f"A link to choose a new password was sent to {user.get_username()}'s email."


@_on_lab_user
def lab_user_unlock(request: HttpRequest, user: AbstractBaseUser) -> str:
    accounts.unlock_sign_in(request.user, user, request=request)
    return f"{user.get_username()} can sign in again."


@_on_lab_user
def lab_user_active(request: HttpRequest, user: AbstractBaseUser) -> str:
    active = request.POST.get("active") == "1"
    set_user_active(request.user, user, active=active, request=request)
    return f"{user.get_username()} {'reactivated' if active else 'deactivated'}."


@login_required
@require_POST
def lab_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    _lab_admin(request)
    key = get_object_or_404(access.lab_api_keys(request.user), pk=key_id)
    back = reverse("data_browser:lab_access")
    if not confirmed(request) and key.revoked_at is None:
        action = reverse("data_browser:lab_key_revoke", args=[key.pk])
        crumbs = [("Access", back), (f"Revoke {key.name}", "")]
        return confirmation_page(
            request,
            revocation(key, back=back, action=action),
            title=f"Revoke {key.name}",
            nav_section="access",
            crumbs=crumbs,
        )
    try:
        revoke_key(request.user, key, request=request)
    except GovernanceError as exc:
        return message_page(request, str(exc), back, status=400)
    messages.success(request, f"Key {key.name} revoked.")
    return redirect(back)


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The one-time link of an invitation or a password reset, mailed to the account's owner."""

    template_name = "governance/set_password.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form):
        response = super().form_valid(form)
        accounts.password_set(form.user, request=self.request)
        messages.success(self.request, "Your password is set; you can sign in now.")
        return response
