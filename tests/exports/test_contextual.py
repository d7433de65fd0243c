"""Contextual exports and CSV for Excel: a Data Viewer tab's Download exports exactly the rows
its filters show, records them, and CSV files start with the UTF-8 BOM exactly when asked.

Jobs run in this process; on PostgreSQL an export with identifiers kept is written by COPY,
on SQLite (and de-identified everywhere) by the Python writer: the assertions are the same.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from collections import Counter

import orjson
import pytest
from django.urls import reverse

from data_browser import csvcells
from data_browser import datatypes as T
from data_browser.filters import record_filterset
from data_browser.identity import REMOVED
from exports import contextual, services
from exports.models import ExportJob, Status

from .conftest import content, open_zip, parse_csv
from .test_tasks import csv_rows

pytestmark = pytest.mark.django_db
BOM = codecs.BOM_UTF8
HTMX = {"HTTP_HX_REQUEST": "true"}


def tab_rows(dt: T.DataType, filters: dict, **scope) -> list[str]:
    """The record ids the tab shows: the tab's FilterSet on its scope."""
    qs = record_filterset(dt)(filters, queryset=dt.model.objects.filter(**scope)).qs
    return sorted(qs.values_list("record_id", flat=True))


def common_event_type(world) -> str:
    types = T.EVENTS.model.objects.filter(room=world.room, participant=world.participant)
    counts = Counter(types.values_list("event_type", flat=True))
    return counts.most_common(1)[0][0]


def participant_tab_export(export, world, filters, **kw):
    kw.setdefault("fmt", "csv")
    return export(
        level="type",
        room_id=world.room.public_id,
        participant_id=world.participant.public_id,
        data_types=["events"],
        filters=filters,
        **kw,
    )


# The filters themselves.


def test_filters_are_kept_in_canonical_form_and_refused_when_wrong():
    dt = T.EVENTS
    got = contextual.canonical(
        dt,
        {
            "startTime": "2024-10-20T16:30:00+02:00",
            "onsetFrom": "5e3",
            "onsetTo": 60000,
            "eventType": "  component.complete ",
            "componentId": "",
        },
    )
    assert got == {
        "eventType": "component.complete",
        "onsetFrom": "5000",
        "onsetTo": "60000",
        "startTime": "2024-10-20T14:30:00.000Z",
    }
    assert contextual.canonical(dt, got) == got  # stable: the fingerprint compares these
    for bad, says in [
        ({"startTime": "yesterday"}, "startTime"),
        ({"onsetFrom": "abc"}, "onsetFrom"),
        ({"onsetTo": "1e19"}, "onsetTo"),  # past the 64-bit column: refused, never a 500
        ({"category": "nonsense"}, "category"),
        ({"issue": "nope"}, "issue"),
        ({"roomId": "room_1"}, "roomId"),
        ({"eventType": True}, "eventType"),
        ({"eventType": "x" * 501}, "eventType"),
        ({"eventType": "a\x00b"}, "eventType"),
        ({"eventType": "a\ud800"}, "UTF-8"),
        ({"\ud800": "1"}, "UTF-8"),
    ]:
        with pytest.raises(contextual.FilterError, match=says):
            contextual.canonical(dt, bad)


def test_a_de_identified_file_records_labels_scrubbed_and_searched_text_withheld(world):
    from data_browser.identity import Policy

    pid = world.participant.public_id
    filters = {"content": "hello", "eventType": f"custom.{pid}", "onsetFrom": "0"}
    coded = Policy.coded(world.experiment.public_id)
    shown = contextual.recorded(T.EVENTS, filters, coded)
    assert shown["content"] == REMOVED and shown["onsetFrom"] == "0"
    assert pid not in shown["eventType"] and shown["eventType"].startswith("custom.anon_")
    assert contextual.recorded(T.EVENTS, filters, Policy.full("x")) == filters


# The files.


@pytest.mark.parametrize("mode", ["keep", "remove"])
def test_a_filtered_tab_exports_exactly_its_rows_and_records_the_filters(export, world, mode):
    event_type = common_event_type(world)
    filters = {"eventType": event_type, "onsetFrom": "0"}
    job = participant_tab_export(export, world, filters, anonymization=mode)
    assert job.status == Status.SUCCEEDED, job.error
    assert job.filters == filters
    assert job.file_name.endswith(".zip") and "filtered" in job.file_name
    assert event_type not in job.file_name
    expected = tab_rows(T.EVENTS, filters, room=world.room, participant=world.participant)
    everything = tab_rows(T.EVENTS, {}, room=world.room, participant=world.participant)
    assert 0 < len(expected) < len(everything)
    with open_zip(job) as zf:
        rows = parse_csv(zf.read("events.csv"))
        meta = orjson.loads(zf.read("metadata.json"))
    assert len(rows) - 1 == len(expected) == meta["rows"] == job.rows_done
    at = rows[0].index("eventType"), rows[0].index("onset")
    assert all(float(r[at[1]]) >= 0 for r in rows[1:])
    if mode == "keep":  # COPY on PostgreSQL: every cell as the Python writer writes it
        assert sorted(r[rows[0].index("id")] for r in rows[1:]) == expected
        assert {r[at[0]] for r in rows[1:]} == {event_type}
        scope = T.EVENTS.model.objects.filter(room=world.room, participant=world.participant)
        qs = record_filterset(T.EVENTS)(filters, queryset=scope).qs.order_by("onset", "id")
        assert rows[1:] == csv_rows(T.EVENTS, qs)
    assert meta["filtered"] is True
    assert meta["filters"] == contextual.recorded(T.EVENTS, filters, services.job_policy(job))
    assert meta["filters"]["onsetFrom"] == "0"
    assert meta["csv"] == {"encoding": "UTF-8", "byteOrderMark": False}


def test_time_bounds_are_the_tabs_start_inclusive_end_exclusive(export, world):
    events = T.EVENTS.model.objects.filter(room=world.room).order_by("timestamp", "id")
    times = list(events.values_list("timestamp", flat=True))
    start, end = times[len(times) // 4], times[len(times) // 2]
    filters = {"startTime": T.iso(start), "endTime": T.iso(end)}
    job = export(
        level="room",
        room_id=world.room.public_id,
        data_types=["events"],
        fmt="zip",
        filters=filters,
    )
    assert job.status == Status.SUCCEEDED, job.error
    with open_zip(job) as zf:
        rows = parse_csv(zf.read(f"{world.room.public_id}/events.csv"))
    ids = sorted(r[rows[0].index("id")] for r in rows[1:])
    assert ids == tab_rows(T.EVENTS, filters, room=world.room)
    stamps = {r[rows[0].index("timestamp")] for r in rows[1:]}
    assert T.iso(start) in stamps and T.iso(end) not in stamps


@pytest.mark.parametrize("fmt", ["zip", "csv", "json"])
def test_an_experiment_tab_export_is_filtered_in_every_room_and_format(export, world, fmt):
    filters = {"category": "component"}
    job = export(level="experiment", data_types=["events"], fmt=fmt, filters=filters)
    assert job.status == Status.SUCCEEDED, job.error
    expected = tab_rows(T.EVENTS, filters, experiment=world.experiment)
    assert 0 < len(expected) < T.EVENTS.model.objects.filter(experiment=world.experiment).count()
    with open_zip(job) as zf:
        names = zf.namelist()
        meta = orjson.loads(zf.read("metadata.json"))
        if fmt == "json":
            body = orjson.loads(zf.read("events.json"))
            got = sorted(r["id"] for r in body["data"])
            assert body["metadata"]["query"]["category"] == "component"
        else:
            got = []
            for name in names:
                if name.endswith("events.csv"):
                    rows = parse_csv(zf.read(name))
                    got += [r[rows[0].index("id")] for r in rows[1:]]
            got.sort()
    assert got == expected
    assert meta["filters"] == filters and meta["rows"] == len(expected)


def test_filtered_aggregates_summarise_only_the_filtered_rows(export, world):
    from exports import anonymize

    filters = {"category": "component"}
    job = export(
        level="experiment",
        data_types=["events"],
        fmt="csv",
        anonymization="aggregate",
        filters=filters,
    )
    assert job.status == Status.SUCCEEDED, job.error
    qs = record_filterset(T.EVENTS)(
        filters, queryset=T.EVENTS.model.objects.filter(experiment=world.experiment)
    )
    summary = anonymize.summaries(T.EVENTS, qs.qs, world.experiment.public_id)
    summary = anonymize.scrub_labels(summary, services.job_policy(job))
    expected = [[str(csvcells.cell(v)) for v in row] for row in summary.rows]
    with open_zip(job) as zf:
        rows = parse_csv(zf.read("events_summary.csv"))
        meta = orjson.loads(zf.read("metadata.json"))
    assert meta["filters"] == filters
    assert rows[0] == summary.column_names and rows[1:] == expected and expected


def test_filters_need_one_data_type_and_valid_values(world):
    start = {
        "level": "room",
        "experiment_id": world.experiment.public_id,
        "room_id": world.room.public_id,
    }
    user = world.user("owner")
    with pytest.raises(services.ExportInvalid, match="exactly one data type"):
        services.start_export(
            user, data_types=["events", "chat"], filters={"onsetFrom": "0"}, **start
        )
    with pytest.raises(services.ExportInvalid, match="startTime"):
        services.start_export(user, data_types=["events"], filters={"startTime": "soon"}, **start)
    with pytest.raises(services.ExportInvalid, match="cannot be filtered by"):
        services.start_export(user, data_types=["chat"], filters={"eventType": "x"}, **start)
    assert not ExportJob.objects.exists()


def test_the_filters_are_part_of_the_fingerprint(world):
    kw = {
        "level": "room",
        "experiment_id": world.experiment.public_id,
        "room_id": world.room.public_id,
        "data_types": ["events"],
    }
    user = world.user("owner")
    plain = services.start_export(user, **kw)
    one = services.start_export(user, filters={"onsetFrom": "0"}, **kw)
    same = services.start_export(user, filters={"onsetFrom": "0.0", "eventType": ""}, **kw)
    other = services.start_export(user, filters={"onsetFrom": "1"}, **kw)
    bom = services.start_export(user, filters={"onsetFrom": "0"}, csv_bom=True, **kw)
    assert one.pk == same.pk
    assert len({plain.pk, one.pk, other.pk, bom.pk}) == 4
    assert services.start_export(user, **kw).pk == plain.pk


# CSV for Excel.


def members(job) -> dict[str, bytes]:
    data = content(job)
    if data[:2] != b"PK":
        return {job.file_name: data}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


CASES = [
    ("type", "keep", "csv", {}),  # COPY on PostgreSQL, one file
    ("type", "remove", "csv", {}),  # the Python writer, one file
    ("room", "keep", "zip", {}),  # COPY across rooms
    ("room", "remove", "zip", {"onsetFrom": "0"}),
    ("room", "aggregate", "csv", {}),  # summaries
    ("experiment", "keep", "zip", {}),  # pieces, merged
    ("room", "keep", "json", {}),  # only the data dictionary is CSV
]


@pytest.mark.parametrize(("level", "mode", "fmt", "filters"), CASES)
@pytest.mark.parametrize("bom", [True, False])
def test_every_csv_file_starts_with_the_bom_exactly_when_asked(
    export, world, level, mode, fmt, filters, bom
):
    kw = {"level": level, "fmt": fmt, "anonymization": mode, "csv_bom": bom}
    if level != "experiment":
        kw["room_id"] = world.room.public_id
    if level == "type":
        kw.update(participant_id=world.participant.public_id, data_types=["chat"])
    if filters:
        kw.update(filters=filters, data_types=["events"])
    job = export(**kw)
    assert job.status == Status.SUCCEEDED, job.error
    files = members(job)
    csvs = {n: b for n, b in files.items() if n.endswith(".csv")}
    assert csvs, files.keys()
    from exports.anonymize import summaries

    heads = {dt.field_names[0] for dt in T.DATA_TYPES} | {"file"}
    heads |= {summaries(dt, dt.model.objects.none(), "").column_names[0] for dt in T.DATA_TYPES}
    for name, data in csvs.items():
        assert data.startswith(BOM) == bom, name
        header = parse_csv(data.removeprefix(BOM))[0]  # the rows follow the mark, once
        assert header[0] in heads, (name, header[:3])
    for name, data in files.items():
        if not name.endswith(".csv"):
            assert not data.startswith(BOM), name
    if "metadata.json" in files:
        meta = orjson.loads(files["metadata.json"])
        assert meta["csv"]["byteOrderMark"] is bom


# The dialog, the tab's button and the job list.


def test_the_tabs_download_carries_its_filters_into_the_dialog(client, world):
    client.force_login(world.user("owner"))
    e, r, p = world.experiment.public_id, world.room.public_id, world.participant.public_id
    event_type = common_event_type(world)
    page = client.get(f"/e/{e}/r/{r}/p/{p}/", {"tab": "events", "eventType": event_type})
    html = page.content.decode()
    assert "(filtered)" in html and f"filter-eventType={event_type}" in html
    assert 'data-export-filtered="true"' in html
    plain = client.get(f"/e/{e}/r/{r}/p/{p}/", {"tab": "events"}).content.decode()
    assert "(filtered)" not in plain and "filter-" not in plain
    url = reverse("exports:new")
    query = {
        "level": "room",
        "experiment": e,
        "room": r,
        "type": "events",
        "filter-eventType": event_type,
        "filter-onsetFrom": "0",
    }
    dialog = client.get(url, query, **HTMX)
    html = dialog.content.decode()
    assert dialog.status_code == 200
    assert "Filters of the tab" in html and event_type in html and "Onset from (ms)" in html
    assert 'name="filter-eventType"' in html and 'name="csv_bom"' in html
    assert 'type="checkbox" name="data_types"' not in html  # the tab's one type


def test_invalid_filters_are_a_form_error_never_a_500(client, world):
    client.force_login(world.user("owner"))
    e, r = world.experiment.public_id, world.room.public_id
    base = {"level": "room", "experiment": e, "room": r, "type": "events"}
    url = reverse("exports:new")
    for bad in ({"filter-startTime": "soon"}, {"filter-onsetFrom": "x"}, {"filter-nope": "1"}):
        dialog = client.get(url, {**base, **bad}, **HTMX)
        assert dialog.status_code == 400, bad
        assert 'role="alert"' in dialog.content.decode()
        post = client.post(
            url,
            {**base, "data_types": ["events"], "fmt": "zip", "anonymization": "keep", **bad},
            **HTMX,
        )
        assert post.status_code == 400, bad
        assert "Filter" in post.content.decode() or "filtered" in post.content.decode()
    several = client.post(
        url,
        {
            **base,
            "data_types": ["events", "chat"],
            "fmt": "zip",
            "anonymization": "keep",
            "filter-onsetFrom": "0",
        },
    )
    assert several.status_code == 400 and b"exactly one data type" in several.content
    assert not ExportJob.objects.exists()


def test_posting_the_dialog_starts_a_filtered_job_shown_as_filtered(client, world, export):
    client.force_login(world.user("owner"))
    e, r = world.experiment.public_id, world.room.public_id
    response = client.post(
        reverse("exports:new"),
        {
            "level": "room",
            "experiment": e,
            "room": r,
            "data_types": ["events"],
            "fmt": "csv",
            "anonymization": "keep",
            "csv_bom": "on",
            "filter-category": "component",
        },
    )
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert job.filters == {"category": "component"} and job.csv_bom
    listing = client.get(reverse("exports:list")).content.decode()
    assert "Filtered" in listing and "Category: Component" in listing
    detail = client.get(reverse("exports:detail", args=[job.public_id])).content.decode()
    assert "Category: Component" in detail
    as_dict = services.job_as_dict(job)
    assert as_dict["filters"] == {"category": "component"} and as_dict["csvBom"] is True
