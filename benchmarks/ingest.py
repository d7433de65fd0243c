"""Ingest 1,000,000 events through the ingest service vs a raw COPY FROM STDIN.

Both load the same events into an empty table with the same indexes and foreign
keys, in the same run (a copy made with LIKE ... INCLUDING ALL has no foreign
keys, so they are added; the figure without them is printed as well). The
baseline gets its rows already in column form (foreign keys resolved, timestamps
parsed, onsets computed) and only pays for COPY; the ingest service starts from
the API-shaped dicts and validates every record.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hs_bench_ingest \
        .venv/bin/python benchmarks/ingest.py [--events 1000000]

The database is created when missing and its event table is emptied: point it
at a database of its own, never at one whose data you need.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hs_bench_ingest")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hyperstudy_dash.settings")


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=250)
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from data_browser import datatypes as T
    from data_browser.ingest import ingest
    from data_browser.models import (
        Event,
        Experiment,
        Lab,
        Participant,
        Room,
        RoomParticipant,
    )

    if connection.vendor != "postgresql":
        sys.exit("benchmarks/ingest.py compares against PostgreSQL COPY: set DATABASE_URL")
    call_command("migrate", verbosity=0)

    # The same rooms and participants for both runs.
    lab, _ = Lab.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    exp, _ = Experiment.objects.get_or_create(
        public_id="exp_bench_ingest", defaults={"lab": lab, "name": "Ingest benchmark"}
    )
    start = datetime(2024, 10, 20, 14, 30, tzinfo=UTC)
    per_room = 4
    members: list[tuple[Room, Participant, str]] = []
    for r in range(args.rooms):
        room, _ = Room.objects.get_or_create(
            public_id=f"room_bench_{r}",
            defaults={"experiment": exp, "started_at": start + timedelta(hours=r)},
        )
        for p in range(per_room):
            participant, _ = Participant.objects.get_or_create(public_id=f"user_bench_{r}_{p}")
            role = f"participant_{'abcd'[p]}"
            RoomParticipant.objects.get_or_create(
                room=room, participant=participant, defaults={"role": role}
            )
            members.append((room, participant, role))

    per_person = args.events // len(members)
    events: list[dict] = []
    rows: list[tuple] = []
    for n, (room, participant, role) in enumerate(members):
        for i in range(per_person):
            ts = room.started_at + timedelta(milliseconds=-8000 + i * 731)
            onset = round((ts - room.started_at).total_seconds() * 1000)
            complete = i % 5 == 4
            response = {"value": "yes", "responseTime": 1200 + i % 900} if complete else None
            record = {
                "id": f"event_b{n}_{i}",
                "timestamp": T.iso(ts),
                "onset": onset,
                "experimentId": exp.public_id,
                "sessionId": room.public_id,
                "participantId": participant.public_id,
                "eventType": "component.complete" if complete else "component.start",
                "category": "component",
                "componentType": "ShowVideo",
                "componentId": "video_intro",
                "content": "ShowVideo: video_intro",
                "stateName": "introduction_state",
                "participantRole": role,
                "duration": 4500 if complete else None,
                "response": response,
            }
            events.append(record)
            rows.append(
                (
                    record["id"],
                    exp.pk,
                    room.pk,
                    participant.pk,
                    ts,
                    onset,
                    record["eventType"],
                    "component",
                    "ShowVideo",
                    "video_intro",
                    record["content"],
                    "introduction_state",
                    role,
                    record["duration"],
                    None
                    if response is None
                    else f'{{"value": "yes", "responseTime": {response["responseTime"]}}}',
                )
            )
    total = len(events)
    print(f"events: {total:,} in {args.rooms} rooms x {per_room} participants")

    table = Event._meta.db_table
    cols = (
        "record_id, experiment_id, room_id, participant_id, timestamp, onset, event_type, "
        "category, component_type, component_id, content, state_name, participant_role, "
        "duration, response"
    )

    # LIKE ... INCLUDING ALL copies columns, defaults and indexes but no foreign keys; the
    # faithful copy gets the same three (deferred) foreign keys as the real table.
    foreign_keys = [
        ("experiment_id", Experiment._meta.db_table),
        ("room_id", Room._meta.db_table),
        ("participant_id", Participant._meta.db_table),
    ]

    def reset() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
            for copy_table in ("bench_event_copy", "bench_event_copy_nofk"):
                cursor.execute(f"DROP TABLE IF EXISTS {copy_table}")
                cursor.execute(f"CREATE TABLE {copy_table} (LIKE {table} INCLUDING ALL)")
            for column, target in foreign_keys:
                cursor.execute(
                    f"ALTER TABLE bench_event_copy ADD FOREIGN KEY ({column}) "
                    f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
                )
            cursor.execute(f"VACUUM ANALYZE {table}")

    def raw_copy(copy_table: str) -> float:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY {copy_table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return time.perf_counter() - started

    def service() -> float:
        started = time.perf_counter()
        result = ingest("events", events)
        took = time.perf_counter() - started
        assert result.accepted == total and not result.errors, result.as_dict()["errors"][:3]
        return took

    results: dict[str, list[float]] = {"copy": [], "copy_nofk": [], "ingest": []}
    for _round in range(2):
        reset()
        results["copy"].append(raw_copy("bench_event_copy"))
        results["copy_nofk"].append(raw_copy("bench_event_copy_nofk"))
        results["ingest"].append(service())
    replay_started = time.perf_counter()
    replayed = events[:100_000]
    replay = ingest("events", replayed)
    replay_took = time.perf_counter() - replay_started
    assert replay.accepted == 0 and replay.duplicates == len(replayed)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_event_copy")
        cursor.execute("DROP TABLE IF EXISTS bench_event_copy_nofk")
        cursor.execute(f"TRUNCATE {table}")

    best = {k: min(v) for k, v in results.items()}
    print(
        f"raw COPY FROM STDIN, copy with the table's foreign keys : {best['copy']:7.2f} s "
        f"({total / best['copy']:,.0f} rows/s)"
    )
    print(f"raw COPY FROM STDIN, copy with indexes but no foreign keys: {best['copy_nofk']:7.2f} s")
    print(
        f"ingest service (validation + COPY into the real table)   : {best['ingest']:7.2f} s "
        f"({total / best['ingest']:,.0f} rows/s)"
    )
    print(f"ratio ingest / COPY       : {best['ingest'] / best['copy']:.2f}x  (target <= 1.5x)")
    print(f"ratio ingest / COPY no FK : {best['ingest'] / best['copy_nofk']:.2f}x")
    print(f"replay of {len(replayed):,} stored events: {replay_took:.2f} s, 0 added")
    print("all runs (s):", {k: [round(v, 2) for v in vs] for k, vs in results.items()})


if __name__ == "__main__":
    main()
