"""Record counts per room, participant and data type, kept in the transaction that changes the
records, so that the total of an unfiltered scope is read (a sum over its rooms' rows) instead
of counted (a scan of millions of index entries after every ingest).

Who keeps them right: ingest adds what each batch stored, inside the batch's transaction
(``add``); a record saved on its own adds itself (``post_save``); a deletion of a scope's
data removes the scope's rows (``forget``: none of its records is left); experiments, rooms
and participants deleted take their rows along (foreign keys). Records written around these
paths (raw SQL, a database shell, ``bulk_create``) are counted again by ``recount`` (the
``recount_records`` command), which also changes the experiments' data stamps
(``versions.bump``), so totals cached from the old counts are not served again. A
rolled-back transaction takes its increments with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.signals import post_save

from . import datatypes as T
from . import versions
from .models import Experiment, RecordCount

Key = tuple[int, int, int | None]  # experiment, room and participant (None: no participant)
UPSERT_ROWS = 500
_BY_MODEL = {dt.model: dt for dt in T.DATA_TYPES}


def add(dt: T.DataType, added: Mapping[Key, int]) -> None:
    """Add ``added[key]`` records of ``dt`` to each key's count. The increment is made by the
    database (``records = records + excluded.records``), so two transactions adding to the
    same row at once both count: the second waits for the first's row lock and adds to what
    it committed. Keys go in one order, so concurrent ingests lock their rows in that order
    and cannot deadlock on them."""
    items = sorted(
        ((key, n) for key, n in added.items() if n), key=lambda item: (item[0][1], item[0][2] or 0)
    )
    table = connection.ops.quote_name(RecordCount._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(items), UPSERT_ROWS):
            chunk = items[start : start + UPSERT_ROWS]
            values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
            params = [v for (exp, room, who), n in chunk for v in (dt.key, exp, room, who, n)]
            cursor.execute(
                f"INSERT INTO {table} (data_type, experiment_id, room_id, participant_id, records) "
                f"VALUES {values} "
                "ON CONFLICT (room_id, data_type, COALESCE(participant_id, 0)) "
                f"DO UPDATE SET records = {table}.records + EXCLUDED.records",
                params,
            )


def _saved(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        key = (instance.experiment_id, instance.room_id, instance.participant_id)
        add(_BY_MODEL[sender], {key: 1})


for _dt in T.DATA_TYPES:
    post_save.connect(_saved, sender=_dt.model, dispatch_uid=f"counts.saved.{_dt.key}")


def forget(scope: Q) -> None:
    """Drop the counts of a scope whose records are all deleted (``scope`` filters on
    experiment, room and participant, as it filters the records)."""
    RecordCount.objects.filter(scope).delete()


def _rows(
    experiments: Iterable[int] | None = None,
    room: int | None = None,
    participant: int | None = None,
):
    rows = RecordCount.objects.all()
    if experiments is not None:
        rows = rows.filter(experiment_id__in=list(experiments))
    if room is not None:
        rows = rows.filter(room_id=room)
    if participant is not None:
        rows = rows.filter(participant_id=participant)
    return rows


def total(
    dt: T.DataType,
    *,
    experiments: Iterable[int] | None = None,
    room: int | None = None,
    participant: int | None = None,
) -> int:
    """How many records of ``dt`` the scope holds: all of the experiments', narrowed to one
    room and/or one participant."""
    return totals(experiments=experiments, room=room, participant=participant, types=[dt])[dt.key]


def totals(
    *,
    experiments: Iterable[int] | None = None,
    room: int | None = None,
    participant: int | None = None,
    types: Iterable[T.DataType] | None = None,
) -> dict[str, int]:
    """How many records of each of ``types`` (every data type without) the scope holds, by
    data type key: one query, which reads only the rows of the types asked for."""
    wanted = T.DATA_TYPES if types is None else list(types)
    rows = _rows(experiments, room, participant)
    if types is not None:
        rows = rows.filter(data_type__in=[dt.key for dt in wanted])
    found = dict(rows.order_by().values_list("data_type").annotate(n=Sum("records")))
    return {dt.key: found.get(dt.key, 0) for dt in wanted}


def kept_totals(
    *,
    experiments: Iterable[int],
    room: int | None = None,
    participant: int | None = None,
    types: Iterable[T.DataType] | None = None,
) -> dict[str, int]:
    """``totals``, kept until the experiments' data changes (``versions``): what the API's
    unfiltered totals (of the type read) and the dashboard's tab counts (of every type)
    read."""
    ids = sorted(set(experiments))
    types = None if types is None else list(types)
    keys = None if types is None else [dt.key for dt in types]
    return versions.derived(
        "totals",
        ids,
        repr((ids, room, participant, keys)),
        lambda: totals(experiments=ids, room=room, participant=participant, types=types),
    )


def by_room(
    types: Iterable[T.DataType], *, experiment: int, participant: int | None = None
) -> dict[int, int]:
    """How many records of ``types`` each room of the experiment holds (of one participant
    when given), by room pk: one query over the counts."""
    rows = _rows([experiment], participant=participant).filter(
        data_type__in=[dt.key for dt in types]
    )
    return dict(rows.order_by().values_list("room_id").annotate(n=Sum("records")))


def recount(experiments: Iterable[int] | None = None) -> int:
    """Count the records of the experiments (all without) from their tables and replace their
    counts, in one transaction; returns how many records were counted. On PostgreSQL the
    counts are locked against writes first: an ingest that has not added its records yet
    waits and adds them after, one that has is waited for and counted here."""
    ids = None if experiments is None else list(experiments)
    counted = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(RecordCount._meta.db_table)
                cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        _rows(ids).delete()
        new = []
        for dt in T.DATA_TYPES:
            records = (
                dt.model.objects.all()
                if ids is None
                else dt.model.objects.filter(experiment_id__in=ids)
            )
            grouped = (
                records.order_by()
                .values_list("experiment_id", "room_id", "participant_id")
                .annotate(n=Count("id"))
            )
            for exp, room, who, n in grouped:
                new.append(
                    RecordCount(
                        data_type=dt.key,
                        experiment_id=exp,
                        room_id=room,
                        participant_id=who,
                        records=n,
                    )
                )
                counted += n
        RecordCount.objects.bulk_create(new, batch_size=1000)
        versions.bump(ids if ids is not None else Experiment.objects.values_list("pk", flat=True))
    return counted
