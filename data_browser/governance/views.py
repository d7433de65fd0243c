"""Access, lab administration, participants' data, deletion and the audit log.

Views stay thin: find the object through ``data_browser.access`` (404 when it is out of
reach), check the form, call ``services``, redirect. A rule broken by the input comes
back as the page with the message and status 400; an action the user may not take is
a 403. Every state change is a POST (CSRF-protected by the middleware).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_POST

from data_browser import access, audit, csvcells, downloads
from data_browser import datatypes as T
from data_browser.identity import Policy, by_experiment, participant_code, person
from data_browser.media import signed_url
from data_browser.models import (
    AuditEntry,
    DataRequest,
    Experiment,
    Membership,
    Participant,
    RoomParticipant,
)
from hyperstudy_dash.htmx import render_page

from . import accounts, forms, signin
from . import services as S

MY_DATA_PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50


def _experiment(request: HttpRequest, public_id: str) -> tuple[Experiment, bool]:
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


def _owned_experiment(request: HttpRequest, public_id: str) -> Experiment:
    """For owner-only actions: 404 if the user cannot see the experiment, 403 if not an owner."""
    experiment, _ = _experiment(request, public_id)
    if not access.for_request(request).is_owner(experiment):
        raise PermissionDenied("Only the experiment's owners may do this.")
    return experiment


def _managed_experiment(request: HttpRequest, public_id: str) -> Experiment:
    experiment, can_manage = _experiment(request, public_id)
    if not can_manage:
        raise PermissionDenied("Only owners and lab admins change access.")
    return experiment


# The sidebar's Access entry.


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


# One experiment's access page.


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
        "pending": S.pending_requests(experiment).select_related("participant") if is_owner else [],
        "self_member": reader.membership(experiment),
        "is_lab_admin": access.is_lab_admin(request.user),
    }


def _access_page(
    request: HttpRequest, experiment: Experiment, *, status: int = 200, **overrides: Any
) -> HttpResponse:
    _, can_manage = _experiment(request, experiment.public_id)
    context = _access_context(request, experiment, can_manage)
    context.update(overrides)
    return render(request, "governance/experiment_access.html", context, status=status)


def _back_to_access(experiment: Experiment) -> HttpResponse:
    return redirect("data_browser:experiment_access", experiment.public_id)


@login_required
def experiment_access(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment, _ = _experiment(request, experiment_id)
    return _access_page(request, experiment)


@login_required
@require_POST
def member_add(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = _managed_experiment(request, experiment_id)
    form = forms.AddMemberForm(request.POST)
    if form.is_valid():
        try:
            m = S.add_member(
                request.user,
                experiment,
                form.cleaned_data["identifier"],
                role=form.cleaned_data["role"],
                export_right=form.cleaned_data["export_right"],
                request=request,
            )
        except S.GovernanceError as exc:
            form.add_error("identifier", str(exc))
        else:
            messages.success(request, f"{m.user.get_username()} now has access.")
            return _back_to_access(experiment)
    return _access_page(request, experiment, status=400, add_form=form)


def _membership(experiment: Experiment, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "experiment"),
        pk=membership_id,
        experiment=experiment,
    )


@login_required
@require_POST
def member_change(request: HttpRequest, experiment_id: str, membership_id: int) -> HttpResponse:
    experiment, can_manage = _experiment(request, experiment_id)
    membership = _membership(experiment, membership_id)
    if not can_manage:
        raise PermissionDenied("Only owners and lab admins change access; nobody their own.")
    form = forms.ChangeMemberForm(request.POST)
    if not form.is_valid():
        return _access_page(request, experiment, status=400, change_errors=form.errors)
    try:
        S.change_member(request.user, membership, request=request, **form.cleaned_data)
    except S.GovernanceError as exc:
        return _access_page(request, experiment, status=400, change_errors={"": [str(exc)]})
    messages.success(request, f"Access of {membership.user.get_username()} changed.")
    return _back_to_access(experiment)


@login_required
@require_POST
def member_remove(request: HttpRequest, experiment_id: str, membership_id: int) -> HttpResponse:
    experiment = _managed_experiment(request, experiment_id)
    membership = _membership(experiment, membership_id)
    try:
        S.remove_member(request.user, membership, request=request)
    except S.GovernanceError as exc:
        return _access_page(request, experiment, status=400, change_errors={"": [str(exc)]})
    messages.success(request, f"{membership.user.get_username()} no longer has access.")
    if membership.user_id == request.user.pk and not access.for_user(request.user).can_manage(
        experiment
    ):
        return redirect("data_browser:access")
    return _back_to_access(experiment)


@login_required
@require_POST
def ownership(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = _managed_experiment(request, experiment_id)
    form = forms.OwnershipForm(request.POST)
    if form.is_valid():
        transfer = form.cleaned_data["mode"] == forms.OwnershipForm.TRANSFER
        try:
            m = S.share_ownership(
                request.user,
                experiment,
                form.cleaned_data["identifier"],
                transfer=transfer,
                request=request,
            )
        except S.GovernanceError as exc:
            form.add_error("identifier", str(exc))
        else:
            messages.success(request, f"{m.user.get_username()} is now an owner.")
            return _back_to_access(experiment)
    return _access_page(request, experiment, status=400, ownership_form=form)


@login_required
@require_POST
def retention(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = _owned_experiment(request, experiment_id)
    form = forms.RetentionForm(request.POST)
    if form.is_valid():
        try:
            S.set_retention(
                request.user, experiment, form.cleaned_data["retention_until"], request=request
            )
        except S.GovernanceError as exc:
            form.add_error("retention_until", str(exc))
        else:
            until = experiment.retention_until
            messages.success(
                request,
                f"Data will be deleted after {until:%Y-%m-%d}."
                if until
                else "No deletion date is set.",
            )
            return _back_to_access(experiment)
    return _access_page(request, experiment, status=400, retention_form=form)


@login_required
@require_POST
def experiment_status(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = _owned_experiment(request, experiment_id)
    form = forms.StatusForm(request.POST)
    if not form.is_valid():
        return _access_page(request, experiment, status=400, status_errors=form.errors)
    change = {"complete": S.complete, "archive": S.archive, "restore": S.restore}
    try:
        change[form.cleaned_data["action"]](request.user, experiment, request=request)
    except S.GovernanceError as exc:
        return _access_page(request, experiment, status=400, status_errors={"": [str(exc)]})
    messages.success(request, f"{experiment.name} is now {experiment.get_status_display()}.")
    return _back_to_access(experiment)


# Participants' requests, as the owner sees them.


@login_required
def experiment_requests(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = _owned_experiment(request, experiment_id)
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
    experiment = _owned_experiment(request, experiment_id)
    data_request = get_object_or_404(DataRequest, pk=request_id, experiment=experiment)
    form = forms.DecideForm(request.POST)
    back = reverse("data_browser:experiment_requests", args=[experiment.public_id])
    if not form.is_valid():
        return _message(request, "The decision was not understood.", back, status=400)
    approve = form.cleaned_data["decision"] == "approve"
    if _deletion_unconfirmed(request, data_request, approve):
        return _confirm_request_deletion(request, experiment, data_request, form, back)
    try:
        dr = S.decide_request(
            request.user,
            data_request,
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
            request=request,
        )
    except S.GovernanceError as exc:
        return _message(request, str(exc), back, status=400)
    messages.success(request, f"Request {dr.get_status_display().lower()}.")
    return redirect(back)


def _deletion_unconfirmed(request: HttpRequest, data_request: DataRequest, approve: bool) -> bool:
    """Approving a pending deletion request deletes data: it needs the confirmation page's own
    POST (``confirmed``), like every other deletion."""
    return (
        approve
        and data_request.kind == DataRequest.Kind.DELETION
        and data_request.status == DataRequest.Status.PENDING
        and request.POST.get("confirmed") != "1"
    )


def _confirm_request_deletion(
    request: HttpRequest, experiment: Experiment, data_request: DataRequest, form, back: str
) -> HttpResponse:
    """The counts of what approving will delete; nothing has changed yet."""
    plan = S.plan_deletion(S.Scope(experiment, participant=data_request.participant))
    return render(
        request,
        "governance/confirm_delete.html",
        {
            "title": "Approve the deletion request",
            "nav_section": "access",
            "experiment": experiment,
            "what": f"the data of participant {data_request.participant.public_id}",
            "plan": plan,
            "back": back,
            "confirm_action": reverse(
                "data_browser:request_decide", args=[experiment.public_id, data_request.pk]
            ),
            "confirm_fields": {
                "decision": "approve",
                "note": form.cleaned_data["note"],
                "confirmed": "1",
            },
            "confirm_label": "Approve and delete permanently",
        },
    )


def _message(request: HttpRequest, text: str, back: str, *, status: int) -> HttpResponse:
    return render(
        request,
        "governance/message.html",
        {"title": "Nothing was changed", "text": text, "back": back},
        status=status,
    )


# Deletion: a confirmation page that names what will go, then a POST.


@login_required
def manage_data(request: HttpRequest, experiment_id: str) -> HttpResponse:
    """The rooms and participants of an experiment, each with its delete link."""
    experiment = _owned_experiment(request, experiment_id)
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
            "plan": S.plan_deletion(S.Scope(experiment)),
        },
    )


def _confirm_or_delete(request: HttpRequest, scope: S.Scope, what: str, back: str) -> HttpResponse:
    if request.method == "POST":
        try:
            plan = S.delete_data(request.user, scope, request=request)
        except S.NothingToDelete as exc:
            return _message(request, str(exc), back, status=400)
        messages.success(request, f"Deleted {what}: {plan.records} records.")
        return redirect(back)
    plan = S.plan_deletion(scope)
    return render(
        request,
        "governance/confirm_delete.html",
        {
            "title": f"Delete {what}",
            "nav_section": "access",
            "experiment": scope.experiment,
            "what": what,
            "plan": plan,
            "back": back,
        },
    )


@login_required
def delete_experiment_data(request: HttpRequest, experiment_id: str) -> HttpResponse:
    experiment = _owned_experiment(request, experiment_id)
    back = reverse("data_browser:manage_data", args=[experiment.public_id])
    return _confirm_or_delete(
        request, S.Scope(experiment), f"all data of {experiment.public_id}", back
    )


@login_required
def delete_room(request: HttpRequest, experiment_id: str, room_id: str) -> HttpResponse:
    experiment = _owned_experiment(request, experiment_id)
    back = reverse("data_browser:manage_data", args=[experiment.public_id])
    room = access.for_request(request).rooms().filter(experiment=experiment, public_id=room_id)
    room = room.first()
    if room is None:
        earlier = S.earlier_room_deletion(experiment, room_id)
        if earlier is None:
            raise Http404("No such room")
        text = (
            f"Room {room_id} was already deleted on {earlier.created_at:%Y-%m-%d %H:%M} "
            f"by {earlier.actor_label}."
        )
        return _message(request, text, back, status=400)
    return _confirm_or_delete(request, S.Scope(experiment, room=room), f"room {room_id}", back)


@login_required
def delete_participant(
    request: HttpRequest, experiment_id: str, participant_id: str
) -> HttpResponse:
    experiment = _owned_experiment(request, experiment_id)
    back = reverse("data_browser:manage_data", args=[experiment.public_id])
    try:
        found = access.for_request(request).participant(participant_id, experiment=experiment)
    except Http404:
        found = None
    participant = found.participant if found is not None else None
    scope = S.Scope(experiment, participant=participant) if participant else None
    if scope is None or not scope.room_participants().exists():
        earlier = S.earlier_participant_deletion(experiment, participant_id)
        if earlier is None:
            raise Http404("No such participant")
        text = (
            f"The data of this participant was already deleted on "
            f"{earlier.created_at:%Y-%m-%d %H:%M} by {earlier.actor_label}."
        )
        return _message(request, text, back, status=400)
    return _confirm_or_delete(request, scope, f"participant {participant_id}", back)


# Lab administration.


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
            "keys": access.lab_api_keys(request.user).select_related("user", "revoked_by"),
            "now": timezone.now(),
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
            except S.GovernanceError as exc:
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


@login_required
@require_POST
def lab_user_password_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    _lab_admin(request)
    user = get_object_or_404(access.lab_users(request.user), pk=user_id)
    back = reverse("data_browser:lab_access")
    try:
        accounts.send_password_reset(request.user, user, request=request)
    except S.GovernanceError as exc:
        return _message(request, str(exc), back, status=400)
    messages.success(
        request, f"A link to choose a new password was sent to {user.get_username()}'s email."
    )
    return redirect(back)


@login_required
@require_POST
def lab_user_unlock(request: HttpRequest, user_id: int) -> HttpResponse:
    _lab_admin(request)
    user = get_object_or_404(access.lab_users(request.user), pk=user_id)
    back = reverse("data_browser:lab_access")
    try:
        accounts.unlock_sign_in(request.user, user, request=request)
    except S.GovernanceError as exc:
        return _message(request, str(exc), back, status=400)
    messages.success(request, f"{user.get_username()} can sign in again.")
    return redirect(back)


@login_required
@require_POST
def lab_user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    _lab_admin(request)
    user = get_object_or_404(access.lab_users(request.user), pk=user_id)
    active = request.POST.get("active") == "1"
    back = reverse("data_browser:lab_access")
    try:
        S.set_user_active(request.user, user, active=active, request=request)
    except S.GovernanceError as exc:
        return _message(request, str(exc), back, status=400)
    state = "reactivated" if active else "deactivated"
    messages.success(request, f"{user.get_username()} {state}.")
    return redirect(back)


@login_required
@require_POST
def lab_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    _lab_admin(request)
    key = get_object_or_404(access.lab_api_keys(request.user), pk=key_id)
    back = reverse("data_browser:lab_access")
    try:
        S.revoke_key(request.user, key, request=request)
    except S.GovernanceError as exc:
        return _message(request, str(exc), back, status=400)
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


# The audit log.


def _audit_entries(request: HttpRequest) -> tuple[QuerySet, forms.AuditFilterForm]:
    entries = access.audit_entries(request.user)
    actions = sorted(set(entries.values_list("action", flat=True).distinct()))
    form = forms.AuditFilterForm(request.GET or None, actions=actions)
    if form.is_valid():
        data = form.cleaned_data
        if data["person"]:
            entries = entries.filter(actor_label__icontains=data["person"])
        if data["action"]:
            entries = entries.filter(action=data["action"])
        tz = timezone.get_current_timezone()
        if data["date_from"]:
            entries = entries.filter(
                created_at__gte=datetime.combine(data["date_from"], time.min, tzinfo=tz)
            )
        if data["date_to"]:
            end = datetime.combine(data["date_to"] + timedelta(days=1), time.min, tzinfo=tz)
            entries = entries.filter(created_at__lt=end)
    elif form.is_bound:
        entries = entries.none()
    return entries.order_by("-id"), form


class _AuditShown:
    """Entries as the reader may see them: where they do not see an experiment's identifiers
    (a lab admin without membership), the scope and details name participants and rooms by
    code, as their other pages do."""

    def __init__(self, reader: access.Access) -> None:
        self.reader = reader
        self._policies: dict[int, Policy] = {}

    def policy(self, entry: AuditEntry) -> Policy | None:
        if entry.experiment_id is None:
            return None
        if entry.experiment_id not in self._policies:
            exp = entry.experiment
            self._policies[entry.experiment_id] = self.reader.policy(exp)
        return self._policies[entry.experiment_id]

    def __call__(self, entry: AuditEntry) -> AuditEntry:
        policy = self.policy(entry)
        if policy is not None and not policy.identifiers:
            entry.scope = policy.label(entry.scope)
            entry.details = policy.everyone().payload(entry.details)
        return entry


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    entries, form = _audit_entries(request)
    page = Paginator(entries.select_related("experiment"), AUDIT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    shown = _AuditShown(access.for_request(request))
    page.object_list = [shown(e) for e in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "governance/audit_log.html",
        {
            "title": "Audit log",
            "nav_section": "audit",
            "form": form,
            "page": page,
            "query": query.urlencode(),
        },
        partial="table",
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


AUDIT_COLUMNS = ("id", "time", "person", "action", "experiment", "scope", "rows", "ip", "details")


@login_required
def audit_csv(request: HttpRequest) -> HttpResponse:
    entries, form = _audit_entries(request)
    if form.is_bound and not form.is_valid():
        return _message(
            request, "The filter is not valid.", reverse("data_browser:audit"), status=400
        )

    def lines():
        import io

        buffer = io.StringIO()
        writer = csvcells.Writer(buffer)
        writer.writerow(AUDIT_COLUMNS)
        shown = _AuditShown(access.for_request(request))
        for e in entries.select_related("experiment").iterator(chunk_size=1000):
            e = shown(e)
            writer.writerow(
                [
                    csvcells.cell(v)
                    for v in (
                        e.pk,
                        T.iso(e.created_at),
                        e.actor_label,
                        e.action,
                        e.experiment_label,
                        e.scope,
                        e.rows,
                        e.ip_address,
                        e.details,
                    )
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    audit.record(
        "audit.exported",
        request=request,
        lab=getattr(access.profile(request.user), "lab", None),
        scope="audit log",
        details={"filter": {k: v for k, v in request.GET.items() if v}},
    )
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    downloads.attach(response, f"audit-{stamp}.csv")
    return response


# My data: a participant's own sessions and records.


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


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    participant = _participant(request)
    dt = T.BY_KEY.get(request.GET.get("type", ""), T.EVENTS)
    page = _own_records(request, participant, dt, request.GET.get("page"))
    context = {
        "title": "My data",
        "nav_section": "my_data",
        "participant": participant,
        "data_types": T.DATA_TYPES,
        "dt": dt,
        "page": page,
        "columns": dt.field_names,
    }
    if request.htmx:
        return render(request, "governance/my_data.html#records", context)
    sessions = (
        access.for_request(request)
        .room_participants()
        .filter(participant=participant)
        .select_related("room__experiment")
        .order_by("-room__started_at")
    )
    others = (
        access.for_request(request)
        .room_participants()
        .filter(room_id__in=sessions.values("room_id"))
        .exclude(participant=participant)
        .select_related("participant", "room__experiment")
    )
    co = {}
    for rp in others:
        code = participant_code(rp.room.experiment.public_id, rp.participant.public_id)
        co.setdefault(rp.room_id, []).append((rp.role, code))
    experiments = S.participant_experiments(request.user)
    my_requests = DataRequest.objects.filter(participant=participant).select_related("experiment")
    context.update(
        {
            "sessions": [(s, co.get(s.room_id, [])) for s in sessions],
            "experiments": experiments,
            "my_requests": my_requests,
            "export_jobs": _request_exports(request, my_requests),
        }
    )
    return render(request, "governance/my_data.html", context)


def _request_exports(request: HttpRequest, requests: QuerySet) -> dict[int, Any]:
    """The newest export of each approved access request, as this participant owns it."""
    from exports.services import jobs_for

    jobs: dict[int, Any] = {}
    for job in jobs_for(request.user).filter(data_request__in=requests).order_by("created_at"):
        jobs[job.data_request_id] = job
    return jobs


@login_required
@require_POST
def my_data_export(request: HttpRequest, request_id: int) -> HttpResponse:
    """Prepare the copy of an approved request again (after it expired or failed)."""
    from exports.services import ExportError

    participant = _participant(request)
    dr = get_object_or_404(
        DataRequest,
        pk=request_id,
        participant=participant,
        kind=DataRequest.Kind.ACCESS,
        status=DataRequest.Status.APPROVED,
    )
    try:
        job = S.participant_export(dr, request=request)
    except (S.GovernanceError, ExportError) as exc:
        return _message(request, str(exc), reverse("data_browser:my_data"), status=400)
    return redirect("exports:detail", job.public_id)


@login_required
@require_POST
def my_data_request(request: HttpRequest) -> HttpResponse:
    _participant(request)
    form = forms.DataRequestForm(request.POST)
    back = reverse("data_browser:my_data")
    if not form.is_valid():
        return _message(request, "Choose what you are asking for.", back, status=400)
    experiment = (
        S.participant_experiments(request.user)
        .filter(public_id=form.cleaned_data["experiment"])
        .first()
    )
    if experiment is None:
        raise Http404("No such experiment")
    try:
        dr = S.create_request(request.user, experiment, form.cleaned_data["kind"], request=request)
    except S.GovernanceError as exc:
        return _message(request, str(exc), back, status=400)
    messages.success(
        request,
        f"Your request ({dr.get_kind_display().lower()}) was sent to the researchers.",
    )
    return redirect(back)
