"""REST API v3 on the large demo: our endpoint vs PostgreSQL doing the bare work, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hyperstudy_large \\
    REDIS_URL=redis://127.0.0.1:6379/3 .venv/bin/python benchmarks/api.py \\
        [--repeat 7] [--load-seconds 60] [--clients 32]

Every line times our path and its baseline in turns, once each in every one of ``--repeat``
repeats (the order rotating), so load from other processes hits both alike; it prints the two
medians, their ratio, and the range (min-max) of each.

1. A 1000-record JSON page (room scope, and experiment scope over 1M events, both with
   the exact ``pagination.total``) vs the same page as ``json_agg`` in PostgreSQL (target
   <= 2x; for the experiment scope the baseline is also shown with the same ``count(*)``);
   the same page as NDJSON, and the participants endpoint's page of the experiment, each
   vs ``json_agg`` of its rows (target <= 2x); the floor of an answer, a key-authenticated
   call that reads no records (``check-access``), vs the same two ``json_agg``.
2. The page at offset 900,000 and the same page by cursor vs offset 0 (both <= 1.5x). The
   depth is 900,000 when the experiment holds a million events (the large demo); on a
   smaller scale it is the same fraction, 90 %, of the experiment's events.
2b. A live experiment: the first page read right after a one-record ingest into it (the
   ingest untimed, every repeat) vs the same page without one (target <= 1.2x): the exact
   total is then read from the counts kept with the records, not counted again.
3. CSV: a 10,000-row page and the whole experiment (1M rows) vs ``COPY (same rows) TO
   STDOUT`` (target <= 1.5x).
4. Load: gunicorn (the production setup: PostgreSQL, Redis, DJANGO_DEBUG=0) on loopback,
   N concurrent clients for S seconds: requests, errors, p50 / p99.
5. De-identified reads: the 1000-record JSON page (and a 10,000-row CSV page) of a key with
   the de-identified right vs the owner's page of the same records (target <= 1.5x), and the
   de-identified page of an experiment with 4x the events and participants vs 1x (target
   <= 1.2x). The two experiments (``exp_deid_1x``, ``exp_deid_4x``; ``--deid-rooms`` rooms of
   4 participants with ``--deid-events`` events each, and 4x the rooms) are made on first use.
   The floor of any de-identification done in Python, vs the owner's page: the page decoded
   and encoded again.

``--scale`` names the demo scale to load (default large); ``--deid-only`` runs section 5 alone
(on a shared machine: ``--scale small --deid-only --deid-rooms 10 --deid-events 250``),
``--no-deid`` leaves it out and ``--load-seconds 0`` leaves out section 4.

Idempotent: migrates and loads the large demo if missing (``seed_demo --scale large``),
analyzes every table the reads plan with and vacuums the record tables (the steady state
autovacuum reaches), adds one API key.
Never deletes or changes demo records: the events section 2b ingests are deleted at its end
(and the experiment's counts made again, ``counts.recount``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from common import (
    DEID_EXPERIMENTS,
    DEID_PEOPLE_PER_ROOM,
    EXPERIMENT,
    Timing,
    analyze,
    gunicorn,
    line,
    seed_deid,
    turns,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--load-seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--scale", default="large", help="demo scale to load (seed_demo)")
    parser.add_argument("--deid-only", action="store_true", help="run section 5 alone")
    parser.add_argument("--no-deid", action="store_true", help="leave section 5 out")
    parser.add_argument("--deid-rooms", type=int, default=250)
    parser.add_argument("--deid-events", type=int, default=1000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from data_browser import copysql, keyset
    from data_browser import datatypes as T
    from data_browser.api import keys
    from data_browser.models import Experiment, Room, RoomParticipant

    if connection.vendor != "postgresql":
        sys.exit("benchmarks/api.py compares against PostgreSQL: set DATABASE_URL")
    settings.API_RATE_LIMIT_PER_KEY = settings.API_RATE_LIMIT_PER_ADDRESS = 10**9
    settings.API_RATE_LIMIT_PER_KEY_HOUR = settings.API_RATE_LIMIT_PER_ENDPOINT = 10**9
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    call_command("seed_demo", scale=args.scale, verbosity=0)
    analyze(vacuum=True)
    owner = get_user_model().objects.get(username="owner")
    _key, raw = keys.create_key(owner, name="benchmarks/api.py", scopes=list(T.ALL_SCOPES))
    if args.deid_only:
        deidentified_reads(args, raw)
        return
    experiment = Experiment.objects.get(public_id=EXPERIMENT)
    room = Room.objects.filter(experiment=experiment).order_by("started_at").first()
    dt = T.EVENTS
    n_events = dt.model.objects.filter(experiment=experiment).count()
    print(f"Large demo: {n_events:,} events in {EXPERIMENT}; room {room.public_id}")

    client = Client()
    headers = {"X-API-Key": raw}

    def api(path: str, **params) -> bytes:
        r = client.get(f"/api/v3{path}", params, headers=headers)
        assert r.status_code == 200, (r.status_code, r.content[:300])
        return b"".join(r.streaming_content) if r.streaming else r.content

    def sql(statement: str, params=()) -> Callable[[], None]:
        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                cursor.fetchall()

        return run

    def page_sql(qs, offset: int, limit: int) -> tuple[str, tuple]:
        page = qs.values_list(*dt.columns)[offset : offset + limit]
        sql, params = page.query.get_compiler(using="default").as_sql()
        return f"SELECT json_agg(t) FROM ({sql}) t", params

    exp_qs = dt.model.objects.filter(experiment=experiment).order_by("timestamp", "pk")
    room_qs = dt.model.objects.filter(room=room).order_by("timestamp", "pk")
    count_sql = f"SELECT count(*) FROM {dt.model._meta.db_table} WHERE experiment_id = %s"
    repeat = args.repeat

    print(
        "\n1. JSON page of 1000 records vs json_agg of the same rows (target <= 2x; each path "
        "and its baseline timed in turns, medians)"
    )
    room_path = f"/data/events/room/{room.public_id}"
    exp_path = f"/data/events/experiment/{EXPERIMENT}"
    ours_room, base_room = turns(
        lambda: api(room_path, limit=1000), sql(*page_sql(room_qs, 0, 1000)), repeat=repeat
    )
    line("room scope (total = exact count)", ours_room, base_room, 2)
    agg_sql, agg_params = page_sql(exp_qs, 0, 1000)
    base_exp = sql(agg_sql, agg_params)
    ours_exp, base, base_count, count_only = turns(
        lambda: api(exp_path, limit=1000),
        base_exp,
        sql(f"SELECT ({agg_sql}), ({count_sql})", (*agg_params, experiment.pk)),
        sql(count_sql, (experiment.pk,)),
        repeat=repeat,
    )
    line("experiment scope (1M events; total = exact count)", ours_exp, base, 2)
    line("experiment scope vs json_agg + the same count(*)", ours_exp, base_count, 2)
    print(f"  (count(*) of the 1M-event experiment alone: {count_only.median:.1f} ms)")
    ours_ndjson, base = turns(
        lambda: api(exp_path, limit=1000, format="ndjson"), base_exp, repeat=repeat
    )
    line("experiment scope as NDJSON (streamed, no total)", ours_ndjson, base, 2)
    people_path = f"/data/participants/experiment/{EXPERIMENT}"
    people = (
        RoomParticipant.objects.filter(room__experiment=experiment)
        .order_by("joined_at", "pk")
        .values_list(
            "participant__public_id",
            "room__experiment__public_id",
            "room__public_id",
            "role",
            "status",
            "joined_at",
            "room__ended_at",
            "participant__display_name",
            "participant__email",
        )[:1000]
    )
    people_sql, people_params = people.query.get_compiler(using="default").as_sql()
    n_people = RoomParticipant.objects.filter(room__experiment=experiment).count()
    base_people = sql(f"SELECT json_agg(t) FROM ({people_sql}) t", people_params)
    ours_people, base = turns(lambda: api(people_path, limit=1000), base_people, repeat=repeat)
    line(
        f"participants of the experiment ({n_people:,}; page of 1000, total = exact count)",
        ours_people,
        base,
        2,
    )
    # What every answer costs before its records (key check, rate limits and usage count in
    # Redis, access, envelope): a page costs at least this plus its query, so 2x needs it to
    # stay below the baseline.
    floor, base, base_p = turns(
        lambda: api(f"/data/check-access/experiment/{EXPERIMENT}"),
        base_exp,
        base_people,
        repeat=repeat,
    )
    line("floor (check-access, no records) vs the events json_agg", floor, base)
    line("floor (check-access, no records) vs the participants json_agg", floor, base_p)

    # 900,000 at a million events (the large demo), the same 90 % of a smaller experiment
    # (in thousands; of a few hundred events, 90 % of them).
    deep = min(900_000, n_events * 9 // 10 // 1000 * 1000) or n_events * 9 // 10
    print(
        f"\n2. Deep pages: offset {deep:,} and the same page by cursor vs offset 0 (both <= 1.5x)"
    )
    ts, pk = exp_qs.values_list("timestamp", "pk")[deep - 1]
    cursor = keyset.Cursor("timestamp", False, ts, pk, deep).sign()
    first, by_offset, by_cursor = turns(
        lambda: api(exp_path, limit=1000),
        lambda: api(exp_path, limit=1000, offset=deep),
        lambda: api(exp_path, limit=1000, cursor=cursor),
        repeat=repeat,
    )
    same = orjson_ids(api(exp_path, limit=5, cursor=cursor)) == orjson_ids(
        api(exp_path, limit=5, offset=deep)
    )
    line(f"offset={deep} vs offset=0", by_offset, first, 1.5)
    line(f"cursor at {deep} vs offset=0", by_cursor, first, 1.5)
    print(f"  cursor page == offset page: {same}")

    print(
        "\n2b. A live experiment: the first page right after a one-record ingest vs without "
        "(target <= 1.2x)"
    )
    live_experiment(args, api, exp_path, experiment, room)

    print("\n3. CSV vs COPY (same rows) TO STDOUT (target <= 1.5x)")

    def copy(qs) -> Callable[[], None]:
        sql, params = copysql.api_select_sql(dt, qs)

        def run() -> None:
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy,
            ):
                for _block in copy:
                    pass

        return run

    ours_csv_page, base = turns(
        lambda: api(exp_path, format="csv", limit=10000), copy(exp_qs[:10000]), repeat=repeat
    )
    line("10,000-row CSV page (experiment scope)", ours_csv_page, base, 1.5)
    ours_full, base_full = turns(
        lambda: api(exp_path, format="csv"), copy(exp_qs), repeat=max(1, repeat // 3)
    )
    line(f"whole experiment CSV ({n_events:,} rows, no limit)", ours_full, base_full, 1.5)

    if args.load_seconds > 0:
        print(f"\n4. Load: {args.clients} clients for {args.load_seconds} s against gunicorn")
        load_test(args, raw, [r.public_id for r in Room.objects.filter(experiment=experiment)])
    if not args.no_deid:
        deidentified_reads(args, raw)


def live_experiment(args, api, exp_path: str, experiment, room) -> None:
    """Each repeat ingests one event into the experiment (untimed; it commits, so the data
    version moves on and every cached total of the experiment is gone) and then times the
    first page with its exact total; the baseline times the same page with nothing ingested
    before it. The events are deleted at the end and the experiment's counts made again."""
    from datetime import timedelta

    from data_browser import counts
    from data_browser import datatypes as T
    from data_browser.ingest import ingest
    from data_browser.models import Event, RoomParticipant

    member = RoomParticipant.objects.filter(room=room).select_related("participant").first()
    prefix = "bench_live_"
    Event.objects.filter(experiment=experiment, record_id__startswith=prefix).delete()

    def page() -> float:
        started = time.perf_counter()
        api(exp_path, limit=1000)
        return (time.perf_counter() - started) * 1000

    def one_record(i: int) -> None:
        record = {
            "id": f"{prefix}{i}",
            "timestamp": T.iso(room.started_at + timedelta(milliseconds=i)),
            "sessionId": room.public_id,
            "participantId": member.participant.public_id,
            "eventType": "component.start",
        }
        result = ingest("events", [record], accept_closed=True)
        assert result.accepted == 1, result.as_dict()

    try:
        page()  # warm
        after, without = [], []
        for i in range(args.repeat * 3):  # alternating, so that both see the same machine
            one_record(i)
            after.append(page())
            without.append(page())
        total = orjson_total(api(exp_path, limit=1))
        exact = Event.objects.filter(experiment=experiment).count()
        line(
            "first page after a one-record ingest vs without one",
            Timing(tuple(after)),
            Timing(tuple(without)),
            1.2,
        )
        print(f"  pagination.total after the ingests == count(*): {total == exact} ({total:,})")
    finally:
        Event.objects.filter(experiment=experiment, record_id__startswith=prefix).delete()
        counts.recount([experiment.pk])


def orjson_total(body: bytes) -> int:
    import orjson

    return orjson.loads(body)["metadata"]["pagination"]["total"]


def deidentified_reads(args, owner_key: str) -> None:
    """Section 5: what de-identification costs an API page, and that it does not grow with
    the experiment (each record is scrubbed with the people of its room)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from data_browser import datatypes as T
    from data_browser.api import keys

    seed_deid(args.deid_rooms, args.deid_events)
    collaborator = get_user_model().objects.get(username="collaborator")
    _key, coded_key = keys.create_key(
        collaborator, name="benchmarks/api.py de-identified", scopes=list(T.ALL_SCOPES)
    )
    client = Client()

    def page(key: str, experiment: str, **params) -> Callable[[], None]:
        path = f"/api/v3/data/events/experiment/{experiment}"

        def get() -> None:
            r = client.get(path, params, headers={"X-API-Key": key})
            assert r.status_code == 200, (r.status_code, r.content[:300])
            if r.streaming:  # a CSV streams: read it to the end
                for _block in r.streaming_content:
                    pass

        return get

    small, large = DEID_EXPERIMENTS
    n_small = DEID_PEOPLE_PER_ROOM * args.deid_rooms
    print(
        f"\n5. De-identified reads ({small}: {args.deid_rooms} rooms, {n_small} participants, "
        f"{n_small * args.deid_events:,} events; {large}: 4x)"
    )
    for label, params, target in (
        ("JSON page of 1000", {"limit": 1000}, 1.5),
        ("CSV page of 10,000", {"limit": 10000, "format": "csv"}, 1.5),
    ):
        coded_1x, owner_1x, coded_4x, owner_4x = turns(
            page(coded_key, small, **params),
            page(owner_key, small, **params),
            page(coded_key, large, **params),
            page(owner_key, large, **params),
            repeat=args.repeat,
        )
        line(f"{label}: de-identified vs the owner's ({small})", coded_1x, owner_1x, target)
        line(f"{label}: de-identified vs the owner's ({large})", coded_4x, owner_4x, target)
        line(f"{label}: de-identified, 4x vs 1x the events and people", coded_4x, coded_1x, 1.2)
    floors(client, owner_key, small, args.repeat)


def floors(client, owner_key: str, experiment: str, repeat: int) -> None:
    """What any de-identification done in Python pays at least on top of the owner's JSON
    page: the page decoded and encoded again, nothing changed."""
    import orjson

    path = f"/api/v3/data/events/experiment/{experiment}"

    def owner_page() -> bytes:
        r = client.get(path, {"limit": 1000}, headers={"X-API-Key": owner_key})
        assert r.status_code == 200, r.status_code
        return r.content

    def decoded_and_encoded() -> None:
        orjson.dumps(orjson.loads(owner_page()))

    through_python, owner = turns(decoded_and_encoded, owner_page, repeat=repeat)
    line(
        f"floor: the owner's JSON page decoded and encoded again vs as sent ({experiment})",
        through_python,
        owner,
    )


def orjson_ids(body: bytes) -> list[str]:
    import orjson

    return [r["id"] for r in orjson.loads(body)["data"]]


def load_test(args, key: str, rooms: list[str]) -> None:
    env = {
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/3",
        "API_RATE_LIMIT_PER_KEY": str(10**9),
        "API_RATE_LIMIT_PER_ADDRESS": str(10**9),
        "API_RATE_LIMIT_PER_KEY_HOUR": str(10**9),
        "API_RATE_LIMIT_PER_ENDPOINT": str(10**9),
    }
    with gunicorn(args.port, env) as server:
        base = f"{server}/api/v3"
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.load_seconds

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < deadline:
                room = rng.choice(rooms)
                kind = rng.random()
                if kind < 0.6:
                    url = f"{base}/data/events/room/{room}?limit=100&sort=onset&order=asc"
                elif kind < 0.85:
                    url = f"{base}/data/chat/room/{room}"
                else:
                    url = f"{base}/data/events/room/{room}?limit=1000"
                request = urllib.request.Request(url, headers={"X-API-Key": key})  # noqa: S310
                start = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                        response.read()
                        ok = response.status == 200
                        status = str(response.status)
                except (urllib.error.URLError, OSError) as exc:
                    ok, status = False, str(exc)
                took = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(took)
                    if not ok:
                        errors.append(status)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        latencies.sort()
        n = len(latencies)
        p50 = latencies[n // 2] if n else 0
        p99 = latencies[min(n - 1, int(n * 0.99))] if n else 0
        print(
            f"  {n} requests in {elapsed:.1f} s ({n / elapsed:.1f}/s), errors: {len(errors)}"
            f"{' ' + str(sorted(set(errors))[:3]) if errors else ''}; "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )


if __name__ == "__main__":
    main()
