"""What the benchmark scripts share: the project on sys.path, settings, timing and reporting."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# BENCH_PROJECT points a benchmark's helper process at another checkout of the project (the
# baseline commit browse.py compares with); by default the code beside this script runs.
PROJECT = Path(os.environ.get("BENCH_PROJECT") or ROOT)
sys.path.insert(0, str(PROJECT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hyperstudy_large")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hyperstudy_dash.settings")
EXPERIMENT = "exp_research_001"


def timed(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median wall time in ms, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


@dataclass(frozen=True)
class Timing:
    """The wall times (ms) of one path, one per repeat."""

    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def span(self) -> str:
        return f"{min(self.runs):.1f}-{max(self.runs):.1f}"


def turns(*paths: Callable[[], object], repeat: int, warmup: int = 1) -> list[Timing]:
    """Each path timed once in every repeat, in turns (the order rotates from one repeat to
    the next), after ``warmup`` rounds: a path and its baseline are timed a few milliseconds
    apart, so load from other processes hits both alike. One ``Timing`` per path."""
    for _ in range(warmup):
        for path in paths:
            path()
    runs: list[list[float]] = [[] for _ in paths]
    for i in range(repeat):
        for j in (*range(i % len(paths), len(paths)), *range(i % len(paths))):
            start = time.perf_counter()
            paths[j]()
            runs[j].append((time.perf_counter() - start) * 1000)
    return [Timing(tuple(r)) for r in runs]


def line(
    label: str, ours: float | Timing, base: float | Timing, target: float | None = None
) -> bool:
    """Print one comparison (ours vs the baseline, in ms; medians of ``Timing``s, whose
    range follows) and whether it meets ``target``."""
    spans = [t.span for t in (ours, base) if isinstance(t, Timing)]
    ours, base = (t.median if isinstance(t, Timing) else t for t in (ours, base))
    ratio = ours / base if base else float("inf")
    ok = target is None or ratio <= target
    verdict = "" if target is None else ("  ok" if ok else f"  OVER {target}x")
    ranges = f"  (range {' vs '.join(spans)} ms)" if spans else ""
    print(f"  {label:<58} {ours:9.1f} ms  vs {base:9.2f} ms  = {ratio:6.2f}x{verdict}{ranges}")
    return ok


# De-identified reads: two experiments of the same shape, the second 4x as large.

DEID_EXPERIMENTS = ("exp_deid_1x", "exp_deid_4x")
DEID_PEOPLE_PER_ROOM = 4


def analyze(*, vacuum: bool = False) -> None:
    """The statistics autovacuum keeps (it is off on some machines): without them PostgreSQL
    plans a freshly loaded million rows, or a thousand participants, as if they were a few
    hundred. ``vacuum``: the record tables vacuumed too (the visibility map of its steady
    state)."""
    from django.db import connection

    from data_browser import datatypes as T

    with connection.cursor() as cursor:
        for table in (
            "experiment",
            "membership",
            "room",
            "participant",
            "roomparticipant",
            "recordcount",
        ):
            cursor.execute(f"ANALYZE data_browser_{table}")
        for dt in T.DATA_TYPES:
            verb = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
            cursor.execute(f"{verb} {dt.model._meta.db_table}")


def seed_deid(rooms: int, events: int) -> None:
    """Create (once) exp_deid_1x with ``rooms`` rooms and exp_deid_4x with four times as many,
    each room with 4 participants of ``events`` events whose text and payloads name them (as
    chat lines and variable snapshots do). The demo's owner owns both; its ``collaborator`` has
    the de-identified export right, so the same records can be read both ways."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from data_browser import counts
    from data_browser.models import (
        Experiment,
        ExportRight,
        Lab,
        Membership,
        Participant,
        Room,
        RoomParticipant,
    )

    users = get_user_model().objects
    owner, collaborator = users.get(username="owner"), users.get(username="collaborator")
    lab = Lab.objects.get(slug="demo-lab")
    for name, n_rooms in zip(DEID_EXPERIMENTS, (rooms, 4 * rooms), strict=True):
        exp, _ = Experiment.objects.get_or_create(
            public_id=name, defaults={"lab": lab, "name": name}
        )
        Membership.objects.get_or_create(
            user=owner, experiment=exp, defaults={"role": Membership.Role.OWNER}
        )
        Membership.objects.update_or_create(
            user=collaborator,
            experiment=exp,
            defaults={
                "role": Membership.Role.COLLABORATOR,
                "export_right": ExportRight.DEIDENTIFIED,
            },
        )
        expected = n_rooms * DEID_PEOPLE_PER_ROOM * events
        have = exp.rooms.count()
        if have == n_rooms and event_count(exp) == expected:
            continue
        print(f"  creating {name}: {n_rooms} rooms, {expected:,} events…", flush=True)
        exp.rooms.all().delete()
        Participant.objects.filter(public_id__startswith=f"user_{name}_").delete()
        for r in range(n_rooms):
            room = Room.objects.create(
                public_id=f"room_{name}_{r:05d}", experiment=exp, started_at=exp.created_at
            )
            for i in range(DEID_PEOPLE_PER_ROOM):
                p = Participant.objects.create(
                    public_id=f"user_{name}_{r}_{i}",
                    display_name=f"Firstname{r}x{i} Lastname{r}x{i}",
                    email=f"firstname{r}x{i}.lastname@uni{r}.example.org",
                    ip_address=f"10.{r % 250}.{r // 250}.{i + 1}",
                )
                RoomParticipant.objects.create(room=room, participant=p, role=f"p{i}")
        with connection.cursor() as c:
            c.execute(
                """
                INSERT INTO data_browser_event (record_id, experiment_id, room_id, participant_id,
                    timestamp, onset, event_type, category, component_type, component_id,
                    content, state_name, participant_role, duration, response)
                SELECT 'ev_' || r.public_id || '_' || rp.id || '_' || g, r.experiment_id, r.id,
                    rp.participant_id, r.started_at + g * interval '10 milliseconds', g * 10,
                    'component.complete', 'component', 'TextChat', 'chat_' || (g %% 5),
                    'Hi, I''m ' || split_part(p.display_name, ' ', 1) || '! ('
                        || p.public_id || ')',
                    'discussion_state', rp.role, g,
                    jsonb_build_object('firstName', split_part(p.display_name, ' ', 1),
                        'value', g, 'email', p.email)
                FROM data_browser_room r
                JOIN data_browser_roomparticipant rp ON rp.room_id = r.id
                JOIN data_browser_participant p ON p.id = rp.participant_id
                CROSS JOIN generate_series(1, %s) g
                WHERE r.experiment_id = %s
                """,
                [events, exp.pk],
            )
            c.execute("VACUUM (ANALYZE) data_browser_event")
        counts.recount([exp.pk])  # the INSERT went around the counts ingest keeps


def event_count(experiment) -> int:
    from data_browser.models import Event

    return Event.objects.filter(experiment=experiment).count()


# The dashboard as `make run` serves it, for the benchmarks that go through HTTP.


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _overridden(flag: str, variable: str) -> list[str]:
    value = os.environ.get(variable)
    return [flag, value] if value else []


@contextlib.contextmanager
def gunicorn(port: int | None = None, env: dict[str, str] | None = None) -> Iterator[str]:
    """gunicorn as scripts/run.sh starts it (scripts/gunicorn.conf.py: sync workers, 2 x cores
    + 1; DEBUG off) on loopback, serving the code beside this script on the benchmark's
    DATABASE_URL and REDIS_URL, without run.sh's worker and beat (beat's periodic jobs would
    touch the benchmark's data). BENCH_GUNICORN_WORKERS, BENCH_GUNICORN_THREADS and
    BENCH_GUNICORN_CLASS override the configuration's processes, threads and worker class
    (e.g. gthread with 4 threads, to compare). Yields the base URL once ``/healthz``
    answers; stops the server's process group after."""
    import signal
    import subprocess
    import urllib.request

    port = port or free_port()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "hyperstudy_dash.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "-c",
            str(ROOT / "scripts/gunicorn.conf.py"),
            *_overridden("--workers", "BENCH_GUNICORN_WORKERS"),
            *_overridden("--threads", "BENCH_GUNICORN_THREADS"),
            *_overridden("--worker-class", "BENCH_GUNICORN_CLASS"),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "0", **(env or {})},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)  # noqa: S310
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not answer on {base}") from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
