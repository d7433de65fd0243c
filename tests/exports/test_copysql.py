"""COPY … TO STDOUT of ``copysql``'s SELECT writes byte for byte what the Python writer does."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connections

from data_browser import copysql, csvcells
from data_browser import datatypes as T
from data_browser.models import ContinuousRating, Event

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def python_csv(dt, qs) -> bytes:
    return "".join(csvcells.stream(dt, T.to_records(dt, T.select(dt, qs)))).encode()


def copy_csv(dt, qs) -> bytes:
    """The header and the rows COPY writes for ``qs``, checking the row count it reports."""
    out = io.BytesIO()
    out.write(copysql.header_line(dt))
    sql, params = copysql.api_select_sql(dt, qs)
    rows = copysql.copy_select(sql, params, out.write, connection=connections[qs.db])
    assert rows == qs.count()
    return out.getvalue()


@pytest.mark.parametrize(
    "dt", [dt for dt in T.DATA_TYPES if copysql.copy_supported(dt)], ids=lambda dt: dt.key
)
def test_copy_equals_the_python_writer_on_the_demo(world, dt):
    qs = dt.model.objects.filter(experiment=world.experiment).order_by("onset", "id")
    assert qs.exists()
    assert copy_csv(dt, qs) == python_csv(dt, qs)


def test_copy_equals_the_python_writer_on_awkward_values(world):
    room = world.room
    start = room.started_at
    awkward = [
        "=SUM(A1:A2)",
        "+1",
        "-2",
        "@cmd",
        "\tTab",
        "comma, inside",
        'quote " inside',
        "new\nline",
        "ünïcödé ✓",
        "",
        "'already quoted",
    ]
    Event.objects.bulk_create(
        Event(
            record_id=f"awk_{i}",
            experiment=world.experiment,
            room=room,
            participant=world.participant,
            timestamp=start + timedelta(milliseconds=i * 1001 - 5000),
            onset=i * 1001 - 5000,
            event_type=text or "x",
            component_id=text,
            content=text,
            duration=-i,
            response=[
                {"value": text, "n": -1.0, "deep": {"a, b": [1, 2.5, None, True]}},
                None,
                "=x",
                -3,
                {"zz": "\u0001\\ ✓ 😀", "a": [], "mid": {}},  # jsonb reorders keys
            ][i % 5],
        )
        for i, text in enumerate(awkward)
    )
    qs = T.EVENTS.model.objects.filter(record_id__startswith="awk_").order_by("onset", "id")
    assert copy_csv(T.EVENTS, qs) == python_csv(T.EVENTS, qs)
    ContinuousRating.objects.bulk_create(
        ContinuousRating(
            record_id=f"awkr_{i}",
            experiment=world.experiment,
            room=room,
            participant=world.participant,
            component_id="c",
            timestamp=start + timedelta(seconds=i),
            onset=i * 1000,
            value=v,
            raw_value=-v,
            scale_min=0,
            scale_max=1e15,
        )
        for i, v in enumerate([0.0, -0.0, 1.0, -5.0, 0.1, 1e-7, 123456.789, 2.5e20, 1e15])
    )
    dt = T.CONTINUOUS_RATINGS
    qs = dt.model.objects.filter(record_id__startswith="awkr_").order_by("onset", "id")
    assert copy_csv(dt, qs) == python_csv(dt, qs)


def test_copy_neutralises_hidden_formulas_exactly_as_the_python_writer(world):
    """Issue 13, item 7: the same nasty values through COPY and through Python, compared."""
    nasty = [
        " =1+1",
        "\n=cmd|' /C calc'!A0",
        "\r\n@SUM(A1)",
        "\t=1",
        "\r+1",
        " \t -2",
        "\uff1dSUM(A1)",
        "\uff0b1",
        "\uff0d1",
        "\uff20x",
        "|calc",
        "  \uff5ccalc",
        "   ",
        "\n",
        " plain",
        "a=b",
        "\u3000=1",
    ]
    room = world.room
    Event.objects.bulk_create(
        Event(
            record_id=f"nasty_{i}",
            experiment=world.experiment,
            room=room,
            participant=world.participant,
            timestamp=room.started_at + timedelta(seconds=i),
            onset=i * 1000,
            event_type=text,
            content=text,
            response=text,  # a top-level JSON string goes through the same rule
        )
        for i, text in enumerate(nasty)
    )
    qs = Event.objects.filter(record_id__startswith="nasty_").order_by("onset", "id")
    copied = copy_csv(T.EVENTS, qs)
    assert copied == python_csv(T.EVENTS, qs)
    rows = list(csv.DictReader(io.StringIO(copied.decode(), newline="")))
    for row, text in zip(rows, nasty, strict=True):
        dangerous = text.startswith(("\t", "\r")) or text.lstrip(" \t\r\n")[:1] in set(
            "=+-@|\uff1d\uff0b\uff0d\uff20\uff5c"
        )
        expected = "'" + text if dangerous else text
        assert (row["eventType"], row["content"], row["response"]) == (expected,) * 3, repr(text)
