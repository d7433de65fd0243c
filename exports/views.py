"""The export dialog, the progress modal, downloads and the "My exports" page.

Thin views over ``exports.services``. Each URL serves a full page and, when
htmx asks, the partial that goes into the ``#modal`` dialog; without
JavaScript the dialog is a normal page and the progress page refreshes itself.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from data_browser import access, downloads
from data_browser import datatypes as T
from data_browser.models import Participant, Room
from hyperstudy_dash.confirm import Confirmation, confirmation_page, confirmed
from hyperstudy_dash.htmx import render_page

from . import contextual, services
from .forms import FILTER_PREFIX, ExportForm, filters_in
from .models import Level


def _scope_from(request: HttpRequest, data) -> dict:
    """The export's scope, resolved through the access layer (404 when not visible)."""
    reader = access.for_request(request)
    experiment = reader.experiment(data.get("experiment", ""))
    room = participant = None
    level = data.get("level") or Level.EXPERIMENT
    if data.get("room"):
        room = reader.room(data["room"], experiment=experiment)
    if data.get("participant") and room is not None:
        participant = reader.participant(data["participant"], room=room).participant
    return {"experiment": experiment, "room": room, "participant": participant, "level": level}


def _participant_shown(request: HttpRequest, scope: dict) -> str:
    p: Participant | None = scope["participant"]
    if p is None:
        return ""
    return access.for_request(request).ref(scope["experiment"], p.public_id)


def _room_shown(request: HttpRequest, scope: dict) -> str:
    room: Room | None = scope["room"]
    if room is None:
        return ""
    return access.for_request(request).room_ref(scope["experiment"], room.public_id)


def _tab_filters(data, form: ExportForm) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The tab's filters as the dialog carries them, and as it lists them (label, value);
    ``ExportInvalid`` when they are not valid filters of the chosen type."""
    raw = filters_in(data)
    if not raw:
        return {}, []
    chosen = form["data_types"].value() or []
    types = [T.BY_KEY[k] for k in chosen if k in T.BY_KEY]
    filters = services.clean_filters(types, raw)
    return filters, contextual.described(types[0], filters) if filters else []


def _render_dialog(
    request: HttpRequest, form: ExportForm, scope: dict, status: int = 200, error=""
):
    data = request.POST if request.method == "POST" else request.GET
    blocked = False
    try:
        filters, described = _tab_filters(data, form)
    except services.ExportInvalid as exc:  # a form error (400), never a 500
        filters, described, blocked = filters_in(data), [], True
        if status in (200, 400):
            error, status = exc.message, 400
    context = {
        "form": form,
        "scope": scope,
        "participant_shown": _participant_shown(request, scope),
        "room_shown": _room_shown(request, scope),
        "error": error,
        "data_types": T.DATA_TYPES,
        "single_type": scope["level"] == Level.TYPE or bool(filters),
        "filters": [(FILTER_PREFIX + name, value) for name, value in filters.items()],
        "filters_described": described,
        "filters_blocked": blocked,
        "nav_section": "exports",
    }
    return render_page(request, "exports/dialog.html", context, partial="modal", status=status)


@login_required
@require_http_methods(["GET", "POST"])
def new_export(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    scope = _scope_from(request, data)
    modes = services.allowed_modes(access.for_request(request), scope["experiment"], scope["level"])
    if request.method == "GET":
        chosen = [data["type"]] if data.get("type") in T.BY_KEY else []
        initial = {
            "level": scope["level"],
            "experiment": scope["experiment"].public_id,
            "room": _room_shown(request, scope),  # how this user addresses the room
            "participant": data.get("participant", ""),
            "data_types": chosen or [dt.key for dt in T.DATA_TYPES],
            "fmt": "csv" if scope["level"] == Level.TYPE else "zip",
            "anonymization": modes[0] if modes else "",
        }
        form = ExportForm(initial=initial, allowed_modes=modes)
        if not modes:
            return _render_dialog(
                request, form, scope, 403, "You may not export this data at this level."
            )
        return _render_dialog(request, form, scope)
    form = ExportForm(request.POST, allowed_modes=modes)
    if not form.is_valid():
        return _render_dialog(request, form, scope, 400)
    try:
        job = services.start_export(request.user, request=request, **form.service_kwargs())
    except services.ExportError as exc:
        return _render_dialog(request, form, scope, exc.status, exc.message)
    if request.htmx:
        return _render_progress(request, job)
    return redirect("exports:detail", public_id=job.public_id)


def _render_progress(request: HttpRequest, job, *, polled: bool = False) -> HttpResponse:
    context = {
        "job": job,
        "scope_text": services.scope_text(job, access.for_request(request)),
        "filters_text": services.filters_text(job, access.for_request(request)),
        "auto_download": polled and job.is_downloadable,
        "nav_section": "exports",
    }
    if polled and request.htmx:
        html = render_to_string("exports/detail.html#progress", context, request=request)
        return HttpResponseStopPolling(html) if job.is_finished else HttpResponse(html)
    return render_page(request, "exports/detail.html", context, partial="modal")


@login_required
@require_GET
def job_detail(request: HttpRequest, public_id) -> HttpResponse:
    job = services.get_job(request.user, public_id)
    return _render_progress(request, job, polled=request.GET.get("poll") == "1")


@login_required
@require_POST
def cancel(request: HttpRequest, public_id) -> HttpResponse:
    job = services.cancel_export(
        services.get_job(request.user, public_id), request.user, request=request
    )
    if request.htmx:
        return _render_progress(request, job, polled=True)
    return redirect("exports:detail", public_id=job.public_id)


@login_required
@require_POST
def delete(request: HttpRequest, public_id) -> HttpResponse:
    """The first POST shows what deleting removes; the confirmation's POST deletes and
    redirects to the list (post/redirect/get)."""
    job = services.get_job(request.user, public_id)
    if not confirmed(request):
        back = reverse("exports:list")
        crumbs = [("My exports", back), ("Delete an export", "")]
        return confirmation_page(
            request,
            _deletion(request, job, back),
            title="Delete an export",
            nav_section="exports",
            crumbs=crumbs,
        )
    services.delete_export(job, request.user, request=request)
    messages.success(request, f"The export {job.file_name or job.public_id} is deleted.")
    return redirect("exports:list")


def _deletion(request: HttpRequest, job, back: str) -> Confirmation:
    """What deleting an export removes: its file (or the pieces of a running one) and the
    links to it."""
    pieces = job.pieces.exclude(file="").count()
    size = filesizeformat(job.size) if job.size else "no file yet"
    lines = [
        f"Scope: {services.scope_text(job, access.for_request(request))} · "
        f"{job.get_fmt_display()} · {size}",
        "Every download link to it stops working, signed links sent to others included.",
    ]
    if job.is_active:
        lines.insert(0, "It is still being prepared: it is cancelled first.")
    return Confirmation(
        heading=f"Delete the export {job.file_name}?" if job.file_name else "Delete this export?",
        rows=[
            ("Export", 1),
            ("Finished file", 1 if job.file else 0),
            ("Pieces prepared so far", pieces),
        ],
        back=back,
        label="Delete the export",
        intro="This removes, permanently and at once (the data itself stays):",
        lines=lines,
        note="The audit log keeps the fact of the deletion.",
    )


def _file_response(job) -> FileResponse:
    if not job.is_downloadable or not default_storage.exists(job.file.name):
        raise Http404("This export is not available (it expired, failed or is not ready).")
    response = downloads.file_response(default_storage.open(job.file.name, "rb"), job.file_name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def download(request: HttpRequest, public_id) -> FileResponse:
    job = services.get_job(request.user, public_id)
    response = _file_response(job)
    services.record_download(job, request, via="dashboard")
    return response


@require_GET
def signed_download(request: HttpRequest, token: str) -> FileResponse:
    job = services.job_from_token(token)
    response = _file_response(job)
    services.record_download(job, request, via="signed link")
    return response


@login_required
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(services.jobs_for(request.user), 25).get_page(request.GET.get("page"))
    reader = access.for_request(request)
    rows = [
        {
            "job": job,
            "scope": services.scope_text(job, reader),
            "filters": services.filters_text(job, reader),
            "types": ", ".join(T.BY_KEY[k].label for k in job.data_types if k in T.BY_KEY),
        }
        for job in page
    ]
    return render(
        request,
        "exports/list.html",
        {"page": page, "rows": rows, "title": "My exports", "nav_section": "exports"},
    )
