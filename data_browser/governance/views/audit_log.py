"""The audit log, as a page and as a CSV download, each entry as the reader may see it."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from data_browser import access, audit, csvcells, downloads
from data_browser import datatypes as T
from data_browser.identity import Policy
from data_browser.models import AuditEntry
from hyperstudy_dash.htmx import render_page

from .. import forms
from .common import message_page

AUDIT_PAGE_SIZE = 50


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
        return message_page(
            request, "The filter is not valid.", reverse("data_browser:audit"), status=400
        )

    def lines():
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
