"""The browse pages: Experiments → Rooms → Participants → Data Viewer, and the data tabs of a
room and of an experiment (the same record tables with one more column).

Every page starts from ``access``; a scope (experiment, room or participant) is resolved once
and hands out the querysets of its records. A page and its htmx partial share one URL: with
``HX-Request`` only the table region is rendered, so sorting, filtering, paging and tab
switching swap the table while the pushed URL keeps reload, back button and links working.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from hyperstudy_dash.htmx import render_page

from . import access, columns, counts, formats, overview, plots, presentations, quality, versions
from . import datatypes as T
from .filters import (
    ExperimentFilter,
    ParticipantFilter,
    RoomFilter,
    record_filterset,
    suggestion_fields,
)
from .identity import Policy
from .media import signed_url
from .models import Experiment, Room, RoomParticipant
from .tables import (
    ExperimentTable,
    ParticipantTable,
    People,
    RecordPages,
    RoomTable,
    configure,
    default_sort,
    page_records,
    record_table,
    visible_fields,
)

COUNT_CACHE_SECONDS = 60
SUGGESTIONS = 200  # values offered per pick-list


# Scopes: what one page is about, resolved through the access layer.


@dataclass
class Scope:
    level: str
    experiment: Experiment
    people: People
    access: access.Access  # the request's, asked for everything the page shows
    room: Room | None = None
    rp: RoomParticipant | None = None

    @cached_property
    def policy(self) -> Policy:
        """The de-identification of the records on this page (the same as in the API and the
        exports of this user)."""
        return self.access.policy(self.experiment)

    def records(self, dt: T.DataType) -> QuerySet:
        qs = self.access.records(dt).filter(experiment=self.experiment)
        if self.room is not None:
            qs = qs.filter(room=self.room)
        if self.rp is not None:
            qs = qs.filter(participant_id=self.rp.participant_id)
        return qs

    def counted(self) -> dict[str, Any] | None:
        """The scope as ``data_browser.counts`` keeps it, narrowed as ``records`` narrows it:
        all of the scope for members, a participant account's own records otherwise (None:
        the reader has no records here)."""
        scope: dict[str, Any] = {"experiments": [self.experiment.pk]}
        if self.room is not None:
            scope["room"] = self.room.pk
        if self.rp is not None:
            scope["participant"] = self.rp.participant_id
        if not self.access.is_member(self.experiment):
            own = self.access.own_participant
            if own is None or scope.setdefault("participant", own.pk) != own.pk:
                return None
        return scope

    def totals(self) -> dict[str, int]:
        """The reader's records of the scope per data type key, read from the counts and kept
        until the experiment's data changes, as the API's totals are."""
        scope = self.counted()
        if scope is None:
            return {dt.key: 0 for dt in T.DATA_TYPES}
        return counts.kept_totals(**scope)

    def visibility_key(self) -> str:
        """Identifies what this user's records of the scope are: all of them for members, one
        participant's own otherwise; caches of per-scope figures are shared accordingly."""
        obj = self.rp or self.room or self.experiment
        member = self.access.is_member(self.experiment)
        participant = self.access.own_participant
        who = "all" if member else f"p{participant.pk if participant else 0}"
        return f"{self.level}:{obj.pk}:{who}"

    @property
    def room_ref(self) -> str | None:
        """The room as this user sees and addresses it: its id, or its code."""
        return self.people.room(self.room.public_id) if self.room is not None else None

    @property
    def ref(self) -> str | None:
        return self.people.ref(self.rp.participant.public_id) if self.rp else None

    def role(self, value: str) -> str:
        """A role in this scope's room as the reader may see it (it can name a participant)."""
        return self.policy.room_label(self.room.public_id, value)

    @property
    def rp_role(self) -> str:
        return self.role(self.rp.role) if self.rp is not None and self.rp.role else ""

    @property
    def crumbs(self) -> list[tuple[str, str]]:
        exp = self.experiment
        out = [
            ("Experiments", reverse("data_browser:experiments")),
            (exp.name, reverse("data_browser:experiment", args=[exp.public_id])),
        ]
        if self.room is not None:
            out.append(
                (
                    self.room_ref,
                    reverse("data_browser:room", args=[exp.public_id, self.room_ref]),
                )
            )
        if self.rp is not None:
            out.append((self.people.label(self.ref), self.url()))
        return out

    def url(self, data: bool = False) -> str:
        """The scope's own page; ``data`` gives the data tabs of an experiment or a room."""
        exp = self.experiment.public_id
        if self.rp is not None:
            return reverse("data_browser:participant", args=[exp, self.room_ref, self.ref])
        if self.room is not None:
            name = "room_data" if data else "room"
            return reverse(f"data_browser:{name}", args=[exp, self.room_ref])
        return reverse(f"data_browser:{'experiment_data' if data else 'experiment'}", args=[exp])

    def panel_url(self, panel: str) -> str:
        args = [self.experiment.public_id]
        if self.room is not None:
            args.append(self.room_ref)
        if self.rp is not None:
            args.append(self.ref)
        return reverse(f"data_browser:{self.level}_{panel}", args=args)

    @property
    def export_args(self) -> dict[str, str | None]:
        return {
            "room": self.room_ref,
            "participant": self.ref,
        }


def _people(reader: access.Access, experiment: Experiment) -> People:
    own = None
    participant = reader.own_participant
    if participant is not None and not reader.is_member(experiment):
        own = participant.public_id
    return People(experiment.public_id, reader.sees_identifiers(experiment), own)


def experiment_scope(request: HttpRequest, exp_id: str) -> Scope:
    reader = access.for_request(request)
    exp = reader.experiment(exp_id)
    return Scope("experiment", exp, _people(reader, exp), reader)


def room_scope(request: HttpRequest, exp_id: str, room_id: str) -> Scope:
    reader = access.for_request(request)
    room = reader.room(room_id)
    if room.experiment.public_id != exp_id:
        raise Http404("No such room in this experiment")
    return Scope("room", room.experiment, _people(reader, room.experiment), reader, room)


def participant_scope(request: HttpRequest, exp_id: str, room_id: str, ref: str) -> Scope:
    """``ref`` is a public id for users who see identifiers and a code for everyone else; an
    identifier in the URL of a code-only user is a 404 like any unknown participant."""
    scope = room_scope(request, exp_id, room_id)
    rp = scope.access.participant(ref, room=scope.room).room_participant
    if scope.people.url(scope.room_ref, scope.people.ref(rp.participant.public_id)) is None:
        raise Http404("No such participant")
    scope.level, scope.rp = "participant", rp
    return scope


def _filter_notes(filterset) -> list[str]:
    if filterset.is_valid():
        return []
    notes = []
    for name, errors in filterset.errors.items():
        label = filterset.form.fields[name].label if name in filterset.form.fields else name
        notes.append(f"Filter “{label}” was ignored: {' '.join(errors)}")
    return notes


# The hierarchy.


@login_required
def experiments(request: HttpRequest) -> HttpResponse:
    reader = access.for_request(request)
    participants = (
        RoomParticipant.objects.filter(room__experiment=OuterRef("pk"))
        .order_by()
        .values("room__experiment")
        .annotate(n=Count("participant", distinct=True))
        .values("n")
    )
    qs = reader.experiments(action=access.LIST).annotate(
        participant_count=Coalesce(Subquery(participants, output_field=IntegerField()), Value(0))
    )
    filterset = ExperimentFilter(request.GET, queryset=qs)
    browsable = set(reader.experiments().values_list("pk", flat=True))
    table = ExperimentTable(filterset.qs, browsable=browsable, order_by="-created_at")
    return _table_page(
        request,
        "data_browser/experiments.html",
        table,
        filterset,
        title="Experiments",
        crumbs=[("Experiments", reverse("data_browser:experiments"))],
        lab_admin=access.is_lab_admin(request.user),
        browsable_count=len(browsable),
    )


def _table_page(
    request: HttpRequest, template: str, table, filterset, scope: Scope | None = None, **extra
) -> HttpResponse:
    """A page whose region is one of the small tables: sorted, paged, filtered, noted."""
    notes = _filter_notes(filterset) + configure(table, request)
    context = {
        **(_page_context(request, scope, counts=True) if scope is not None else {}),
        "table": table,
        "filterset": filterset,
        "notes": notes,
        **extra,
    }
    return render_page(request, template, {"nav_section": "data", **context})


def tab_counts(request: HttpRequest, scope: Scope) -> dict[str, str]:
    """Exact record counts for the tab labels, read from the counts kept with the records
    (``Scope.totals``: one query however many records, none while the data is unchanged),
    so they are current after every ingest."""
    return {key: f"{n:,}" for key, n in scope.totals().items()}


@login_required
def experiment(request: HttpRequest, exp_id: str) -> HttpResponse:
    scope = experiment_scope(request, exp_id)
    participants = (
        RoomParticipant.objects.filter(room=OuterRef("pk"))
        .order_by()
        .values("room")
        .annotate(n=Count("id"))
        .values("n")
    )
    qs = (
        scope.access.rooms()
        .filter(experiment=scope.experiment)
        .annotate(
            participant_count=Coalesce(
                Subquery(participants, output_field=IntegerField()), Value(0)
            ),
            length=ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField()),
        )
    )
    filterset = RoomFilter(request.GET, queryset=qs)
    table = RoomTable(filterset.qs, people=scope.people, order_by="-started_at")
    return _table_page(request, "data_browser/experiment.html", table, filterset, scope)


@login_required
def room(request: HttpRequest, exp_id: str, room_id: str) -> HttpResponse:
    scope = room_scope(request, exp_id, room_id)
    has = {
        f"has_{dt.key}": Exists(
            scope.access.records(dt).filter(room=scope.room, participant=OuterRef("participant"))
        )
        for dt in T.DATA_TYPES
    }
    qs = (
        scope.access.room_participants()
        .filter(room=scope.room)
        .select_related("participant")
        .annotate(**has)
    )
    filterset = ParticipantFilter(request.GET, queryset=qs)
    table = ParticipantTable(
        filterset.qs, people=scope.people, room_id=scope.room_ref, roles=scope.role
    )
    return _table_page(request, "data_browser/room.html", table, filterset, scope)


def _page_context(request: HttpRequest, scope: Scope, *, counts: bool) -> dict[str, Any]:
    crumbs = scope.crumbs
    return {
        "scope": scope,
        "access": scope.access,
        "experiment": scope.experiment,
        "title": crumbs[-1][0],
        "crumbs": crumbs,
        "counts": tab_counts(request, scope) if counts else {},
        "data_types": T.DATA_TYPES,
        "data_url": scope.url(data=True),
    }


# Records: the data viewer and the data tabs of rooms and experiments.


@dataclass
class RecordView:
    """Everything the record region shows for one type in one scope."""

    dt: T.DataType
    table: Any
    filterset: Any
    notes: list[str]
    pages: RecordPages
    extras: dict[str, Any]  # the type's transcript, cards or summary (see presentations)
    chooser: columns.Chooser | None = None  # the tab's column chooser


def _data_type(request: HttpRequest) -> tuple[T.DataType, list[str]]:
    tab = request.GET.get("tab") or T.EVENTS.key
    dt = T.BY_KEY.get(tab)
    if dt is None:
        return T.EVENTS, [f"There is no data type “{tab}”; showing Events."]
    return dt, []


def _chooser(request: HttpRequest, scope: Scope, dt: T.DataType) -> columns.Chooser:
    return columns.chooser(request, dt, visible_fields(dt, scope.level, scope.people.identifiers))


def _records_view(
    request: HttpRequest, scope: Scope, chooser: columns.Chooser | None = None
) -> RecordView:
    dt, notes = _data_type(request)
    if chooser is None:
        chooser = _chooser(request, scope, dt)
    filterset = record_filterset(dt)(request.GET, queryset=scope.records(dt))
    notes += _filter_notes(filterset)
    qs = filterset.qs

    sort = request.GET.get("sort") or default_sort(dt)
    table_class = record_table(dt, scope.level, scope.people.identifiers)
    name = sort.lstrip("-")
    if name not in table_class.base_columns or not table_class.base_columns[name].orderable:
        sort = name = default_sort(dt)
        notes.append(f"This table cannot be sorted by “{request.GET['sort']}”; sorted by {sort}.")
    column = dt.get_field(name).column

    pages = page_records(qs, [*dt.columns, "id"], column, sort, request.GET)
    rows = [row[:-1] for row in pages.rows]
    records = list(T.to_records(dt, rows, lambda f: signed_url(request, f)))
    records = scope.policy.records(dt, records)
    exp = scope.experiment.public_id
    details = [
        reverse("data_browser:record_detail", args=[exp, dt.key, row[-1]]) for row in pages.rows
    ]
    table = table_class(
        records,
        people=scope.people,
        order_by=sort,
        filtered=bool(request.GET),
        details=details,
        exclude=chooser.hidden,
    )
    extras = presentations.extras(dt, records, scope.people, qs)
    extras["suggestions"] = _suggestions(request, scope, dt, filterset)
    extras["match"] = _match(request, scope, dt, filterset)
    return RecordView(dt, table, filterset, notes + pages.notes, pages, extras, chooser)


def _suggestions(request: HttpRequest, scope: Scope, dt: T.DataType, filterset) -> dict:
    """The values present in the scope for the exact-value filters (event types, components,
    formats…), offered as a pick-list beside the free text; kept a minute like the counts."""
    if not scope.people.identifiers:  # raw values (event types too) may name people
        return {}
    key = f"browse:values:{dt.key}:{scope.visibility_key()}"
    values = cache.get(key)
    if values is None:
        base = scope.records(dt).order_by()
        values = {
            f.name: sorted(
                v for v in base.values_list(f.column, flat=True).distinct()[:SUGGESTIONS] if v
            )
            for f in suggestion_fields(dt)
        }
        cache.set(key, values, COUNT_CACHE_SECONDS)
    for name in values:
        if name in filterset.form.fields:
            filterset.form.fields[name].widget.attrs["list"] = f"values-{name}"
    return values


def _match(request: HttpRequest, scope: Scope, dt: T.DataType, filterset) -> tuple | None:
    """How many records the filters keep (counted once per change of the experiment's data,
    as the API counts them) of how many (read), when a filter is set."""
    if not filterset.form.has_changed() or not filterset.is_valid():
        return None
    return versions.count(filterset.qs, [scope.experiment.pk]), scope.totals()[dt.key]


def _data_page(request: HttpRequest, scope: Scope, template: str) -> HttpResponse:
    """A data tab; a POST is its column chooser (post/redirect/get: a valid choice is
    remembered and the tab reloads; a column the table lacks is a form error, 400)."""
    chooser = None
    if request.method == "POST":
        chooser = _chooser(request, scope, _data_type(request)[0])
        if chooser.saved:
            return redirect(request.get_full_path())
    view = _records_view(request, scope, chooser)
    context = {
        **_page_context(request, scope, counts=True),
        "view": view,
        "dt": view.dt,
        "table": view.table,
        "filterset": view.filterset,
        "notes": view.notes,
        "region_url": request.path,
    }
    status = 400 if view.chooser.form.errors else 200
    return render_page(request, template, {"nav_section": "data", **context}, status=status)


@login_required
def experiment_data(request: HttpRequest, exp_id: str) -> HttpResponse:
    return _data_page(request, experiment_scope(request, exp_id), "data_browser/data.html")


@login_required
def room_data(request: HttpRequest, exp_id: str, room_id: str) -> HttpResponse:
    return _data_page(request, room_scope(request, exp_id, room_id), "data_browser/data.html")


@login_required
def participant(request: HttpRequest, exp_id: str, room_id: str, ref: str) -> HttpResponse:
    scope = participant_scope(request, exp_id, room_id, ref)
    return _data_page(request, scope, "data_browser/participant.html")


# Lazy panels: data quality and plots.


def _quality_report(request: HttpRequest, scope: Scope) -> quality.Report:
    rps = scope.access.room_participants().filter(room__experiment=scope.experiment)
    if scope.room is not None:
        rps = rps.filter(room=scope.room)
    if scope.rp is not None:
        rps = rps.filter(pk=scope.rp.pk)
    key = f"browse:quality:{scope.visibility_key()}"
    return quality.report(
        scope.records,
        rps,
        video=scope.experiment.has_video_chat,
        multi=scope.experiment.is_multi_participant and scope.level != "participant",
        cache_key=key,
    )


def _panel(request: HttpRequest, scope: Scope, panel: str, context: dict) -> HttpResponse:
    context = {
        **_page_context(request, scope, counts=False),
        **context,
        "panel_template": f"data_browser/_{panel}.html",
        "plots_url": scope.panel_url("plots") if scope.level != "experiment" else None,
    }
    return render_page(request, "data_browser/panel_page.html", {"nav_section": "data", **context})


def _quality(request: HttpRequest, scope: Scope) -> HttpResponse:
    report = _quality_report(request, scope)
    data_url = scope.url(data=scope.level != "participant")
    warnings = [
        (t, issue, n, f"{data_url}?tab={t.key}&issue={issue}", quality.ISSUE_LABELS[issue])
        for t, issue, n in report.warnings
    ]
    return _panel(
        request,
        scope,
        "quality",
        {"report": report, "warnings": warnings, "tab_url": data_url},
    )


def _label_for(scope: Scope):
    labels = {
        rp.participant_id: scope.people.label(scope.people.ref(rp.participant.public_id))
        for rp in scope.access.room_participants()
        .filter(room=scope.room)
        .select_related("participant")
    }
    return lambda pk: labels.get(pk, "unknown")


def _plots(request: HttpRequest, scope: Scope) -> HttpResponse:
    found = plots.all_plots(
        scope.records(T.CONTINUOUS_RATINGS),
        scope.records(T.SYNC),
        _label_for(scope),
        lambda component: scope.policy.room_label(scope.room.public_id, component),
    )
    wanted = request.GET.get("plot")
    shown = [p for p in found if p.slug == wanted] if wanted else found
    notes = [] if shown or not wanted else [f"There is no plot “{wanted}”; showing all plots."]
    return _panel(
        request,
        scope,
        "plots",
        {"plots": shown or found, "single": bool(wanted and shown), "notes": notes},
    )


@login_required
def experiment_overview(request: HttpRequest, exp_id: str) -> HttpResponse:
    scope = experiment_scope(request, exp_id)
    summary = overview.build(
        scope.experiment,
        scope.access.rooms().filter(experiment=scope.experiment),
        scope.access.room_participants().filter(room__experiment=scope.experiment),
        _quality_report(request, scope),
        member=scope.access.is_member(scope.experiment),
    )
    return _panel(request, scope, "overview", {"overview": summary})


@login_required
def experiment_quality(request: HttpRequest, exp_id: str) -> HttpResponse:
    return _quality(request, experiment_scope(request, exp_id))


@login_required
def room_quality(request: HttpRequest, exp_id: str, room_id: str) -> HttpResponse:
    return _quality(request, room_scope(request, exp_id, room_id))


@login_required
def participant_quality(request: HttpRequest, exp_id: str, room_id: str, ref: str) -> HttpResponse:
    return _quality(request, participant_scope(request, exp_id, room_id, ref))


@login_required
def room_plots(request: HttpRequest, exp_id: str, room_id: str) -> HttpResponse:
    return _plots(request, room_scope(request, exp_id, room_id))


@login_required
def participant_plots(request: HttpRequest, exp_id: str, room_id: str, ref: str) -> HttpResponse:
    return _plots(request, participant_scope(request, exp_id, room_id, ref))


# One record, expanded: every field, the variables in force (events) and the raw JSON.


@dataclass
class RecordDetail:
    """One record as its reader may see it (through the scope's policy), for the expanded row
    of a record table and its own page."""

    dt: T.DataType
    pk: int
    record: dict[str, Any]
    fields: list[tuple[T.Field, Any]]
    raw: str
    # The record of ``dt.in_force`` in force at its time (an event's component snapshot).
    snapshot: dict[str, Any] | None = None
    snapshot_fields: list[tuple[T.Field, Any]] | None = None
    snapshot_dt: T.DataType | None = None


def _shown(request: HttpRequest, scope: Scope, dt: T.DataType, row) -> dict[str, Any]:
    record = next(T.to_records(dt, [row], lambda f: signed_url(request, f)))
    return scope.policy.records(dt, [record])[0]


def _in_force(
    request: HttpRequest, scope: Scope, dt: T.DataType, room_id, participant_id, timestamp
):
    """The latest record of ``dt`` of the participant in the room at or before ``timestamp``
    (for ``DataType.in_force``: the variables as they stood when the record was made), or
    None."""
    if participant_id is None:
        return None
    row = (
        scope.records(dt)
        .filter(room_id=room_id, participant_id=participant_id, timestamp__lte=timestamp)
        .order_by("-timestamp", "-id")
        .values_list(*dt.columns)
        .first()
    )
    return _shown(request, scope, dt, row) if row is not None else None


def record_detail_of(request: HttpRequest, scope: Scope, tab: str, pk: str) -> RecordDetail:
    """The record ``pk`` of type ``tab`` in the scope, or a 404 (an unknown type or id, and a
    record this reader may not see, alike)."""
    dt = T.BY_KEY.get(tab)
    if dt is None or not (pk.isascii() and pk.isdigit() and len(pk) <= 18):
        raise Http404("No such record")
    row = (
        scope.records(dt)
        .filter(pk=int(pk))
        .values_list(*dt.columns, "room_id", "participant_id", "timestamp")
        .first()
    )
    if row is None:
        raise Http404("No such record")
    *values, room_id, participant_id, timestamp = row
    record = _shown(request, scope, dt, values)
    detail = RecordDetail(
        dt,
        int(pk),
        record,
        [(f, record.get(f.name)) for f in dt.fields],
        formats.json_text(record),
    )
    if dt.in_force is not None:
        other = T.BY_KEY[dt.in_force.of]
        detail.snapshot_dt = other
        snapshot = _in_force(request, scope, other, room_id, participant_id, timestamp)
        if snapshot is not None:
            detail.snapshot = snapshot
            detail.snapshot_fields = [
                (f, snapshot.get(f.name)) for f in other.fields if f.name in dt.in_force.fields
            ]
    return detail


@login_required
def record_detail(request: HttpRequest, exp_id: str, tab: str, pk: str) -> HttpResponse:
    """One record expanded: htmx gets the table row that opens under the record's row, a
    plain request (a link, a reload) the record's own page."""
    scope = experiment_scope(request, exp_id)
    detail = record_detail_of(request, scope, tab, pk)
    crumbs = [*scope.crumbs, (f"{detail.dt.label} record", "")]
    context = {
        "scope": scope,
        "experiment": scope.experiment,
        "detail": detail,
        "dt": detail.dt,
        "title": f"{detail.dt.label} record",
        "crumbs": crumbs,
        "back_url": f"{scope.url(data=True)}?tab={detail.dt.key}",
        "nav_section": "data",
    }
    return render_page(request, "data_browser/record.html", context, partial="row")
