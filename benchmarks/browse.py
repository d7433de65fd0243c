"""Browse pages on the large demo: server time of the events tab vs the bare SQL and vs the
code of a baseline commit, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hyperstudy_large \\
    REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python benchmarks/browse.py \\
      [--repeat 15] [--scale large] [--baseline 039dda3] [--rounds 5] \\
      [--browser-runs 7] [--browser-only | --skip-browser]

Server time is a request through Django's test client (every middleware, the session, the
access layer, the template), signed in as the owner. The baseline is the SELECT of the same
50 rows with their ids joined in, run bare on the same connection in the same run.

1. The experiment's events tab (1M events): the first page, the page 10,000 rows deep (the
   keyset link the table offers), a filtered page; full page and htmx partial. Targets: each
   page <= 3x its bare query; the deep page <= 2x the first page.
2. The same tab at room and participant level, for reference.
3. The experiments list: <= 50 ms server time.
4. What any signed-in page of this stack pays, for reference: a view behind the same
   middleware and login that returns "ok", and one that also runs the access layer and the
   events page's rows query (``page_records``, the same function the page calls) and returns
   the row count instead of HTML. Their ratios to the bare SELECT are the floor under the
   page's: whatever the page renders comes on top.
5. The experiment's events tab against the code of ``--baseline`` (default 039dda3, the last
   commit whose record tables were written in Python and whose filter forms rendered through
   Jinja2): a ``git worktree`` of that commit under ``var/``, served by a helper process of
   this script (``BENCH_PROJECT`` puts the worktree's code on its path) on the same database
   and Redis, signed in as the same user. Our pages and the baseline's are timed in
   alternating rounds (the median of each), so load from other processes hits both alike.
   Target: the first page <= 1.5x the baseline's. ``--baseline ""`` skips the section; the
   baseline's Python packages must be installed (``pip install -e '.[bench]'``).
6. In Chromium (``/usr/bin/chromium`` through Playwright, as the browser tests launch it;
   ``CHROMIUM_PATH`` overrides), 1280 x 800, signed in as the owner, against gunicorn
   started on a free port with scripts/run.sh's flags and DEBUG off (without run.sh's worker
   and beat), after 24 requests that warm each of its threads. Medians of
   ``--browser-runs``:
   - click to painted table: ``performance.now()`` at the click on an htmx link (capture
     phase), then the first ``htmx:afterSwap`` of the ``#records`` region, then a message
     posted from the next ``requestAnimationFrame``, which arrives once that frame is
     rendered. For the onset sort header (ascending -> descending, from a fresh load of the
     events tab) and the tabs events -> chat and chat -> events. Target: <= 150 ms. Printed
     beside it, from the same clicks: when the XHR's response had arrived (and its server
     time, responseStart - requestStart), htmx's history snapshot, the swap and the settle.
   - navigation to the events tab (Navigation Timing API, warm: static files cached):
     server time responseEnd - requestStart vs this section's measure of section 1's first
     page (the test client, in the same rounds as the navigations), target <= 1.2x; for
     reference the same page through urllib (HTTP, no browser), first byte,
     DOMContentLoaded and load.
   ``--browser-only`` runs this section alone; ``--skip-browser`` leaves it out.

``--depth-sweep`` adds 5b: section 1's first page requested from 0 to 124 more frames of
Python stack (``deeper``). On CPython 3.11 the same page's time depends on where the end of a
16 KB frame-stack chunk falls among the frames its templates push and pop for every cell
(python/cpython#142183); the sweep prints each depth's median.

Idempotent: migrates and loads the demo if missing (``seed_demo --scale large``; a smaller
``--scale`` for a quick run on a shared machine, in a database of its own) and
analyzes the record tables (the statistics autovacuum keeps; without them PostgreSQL plans a
freshly loaded million rows as if they were a few hundred). Never changes demo records.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import types
import urllib.request
from collections.abc import Callable
from pathlib import Path

from common import EXPERIMENT, ROOT, analyze, gunicorn, line, timed

PER_PAGE = 50
BASELINE = "039dda3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--scale", default="large", help="demo scale to load when missing")
    parser.add_argument("--baseline", default=BASELINE, help='commit to compare with ("": none)')
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds vs baseline")
    parser.add_argument("--browser-runs", type=int, default=7, help="Chromium timings (median)")
    parser.add_argument(
        "--browser-only", action="store_true", help="section 6 only (with its reference)"
    )
    parser.add_argument("--skip-browser", action="store_true", help="no section 6")
    parser.add_argument(
        "--depth-sweep", action="store_true", help="5b: the first page from deeper stacks"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.repeat)
        return

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from data_browser import datatypes as T
    from data_browser import keyset
    from data_browser.models import Experiment, Room, RoomParticipant

    if connection.vendor != "postgresql":
        sys.exit("benchmarks/browse.py measures the large demo on PostgreSQL: set DATABASE_URL")
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    call_command("seed_demo", scale=args.scale, verbosity=0)
    analyze()

    dt = T.EVENTS
    experiment = Experiment.objects.get(public_id=EXPERIMENT)
    room = Room.objects.filter(experiment=experiment).order_by("started_at").last()
    rp = RoomParticipant.objects.filter(room=room).select_related("participant").first()
    events = dt.model.objects.filter(experiment=experiment)
    n_events = events.count()
    print(f"Demo ({args.scale}): {n_events:,} events in {EXPERIMENT}")

    client = Client()
    client.force_login(get_user_model().objects.get(username="owner"))

    def page(url: str, htmx: bool = False):
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        return response

    def bare(qs) -> float:
        sql, params = (
            qs.values_list(*dt.columns).order_by("onset", "id")[:PER_PAGE].query.sql_with_params()
        )

        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                assert len(cursor.fetchall()) == PER_PAGE

        return timed(run, args.repeat, warmup=2)

    exp_url = reverse("data_browser:experiment_data", args=[EXPERIMENT]) + "?tab=events"
    depth = min(10_000, n_events - PER_PAGE)
    onset, pk = events.order_by("onset", "id").values_list("onset", "id")[depth - 1]
    deep_url = f"{exp_url}&after={keyset.Cursor('onset', False, onset, pk, depth).sign()}"
    deep_rows = events.filter(onset__gte=onset).exclude(onset=onset, id__lte=pk)
    assert 'rel="next" href="?tab=events&amp;after=' in page(exp_url).content.decode()
    rows = re.findall(r"<tr[ >]", page(deep_url).content.decode())
    assert len(rows) == PER_PAGE + 1  # + the header
    filtered_url = f"{exp_url}&category=media"

    ok = True
    if args.browser_only:
        ok &= browser_timings(args, exp_url, lambda: page(exp_url), n_events)
        print("\nall targets met" if ok else "\nsome targets missed (see OVER above)")
        return
    print(
        f"\n1. Events tab, experiment level: server time vs bare SELECT of the same {PER_PAGE} rows"
    )
    first = timed(lambda: page(exp_url), args.repeat, warmup=2)
    first_sql = bare(events)
    ok &= line("first page", first, first_sql, 3)
    deep = timed(lambda: page(deep_url), args.repeat, warmup=2)
    ok &= line("page 10,000 rows deep (keyset link)", deep, bare(deep_rows), 3)
    filtered = timed(lambda: page(filtered_url), args.repeat, warmup=2)
    ok &= line("filtered (category=media)", filtered, bare(events.filter(category="media")), 3)
    first_partial = timed(lambda: page(exp_url, htmx=True), args.repeat, warmup=2)
    line("first page, htmx partial", first_partial, first_sql)
    deep_partial = timed(lambda: page(deep_url, htmx=True), args.repeat, warmup=2)
    line("deep page, htmx partial", deep_partial, bare(deep_rows))
    ok &= line("deep page vs first page (target <= 2x)", deep, first, 2)

    print("\n2. Events tab at room and participant level (reference)")
    room_url = reverse("data_browser:room_data", args=[EXPERIMENT, room.public_id]) + "?tab=events"
    line(
        "room: first page",
        timed(lambda: page(room_url), args.repeat, warmup=2),
        bare(events.filter(room=room)),
    )
    viewer_url = reverse(
        "data_browser:participant", args=[EXPERIMENT, room.public_id, rp.participant.public_id]
    )
    viewer_rows = events.filter(room=room, participant_id=rp.participant_id)
    viewer = timed(lambda: page(viewer_url), args.repeat, warmup=2)
    line("participant: first page", viewer, bare(viewer_rows))

    print("\n3. Experiments list (target <= 50 ms)")
    listing = timed(lambda: page(reverse("data_browser:experiments")), args.repeat)
    print(
        f"  experiments list{'':<36} {listing:8.1f} ms  {'ok' if listing <= 50 else 'OVER 50 ms'}"
    )
    ok &= listing <= 50
    print("\n4. The floor under every page: signed-in requests that render nothing (reference)")
    floor_urls(settings, dt)
    signed_in = timed(lambda: page("/floor/signed-in/"), args.repeat, warmup=2)
    line("signed-in view that returns 'ok'", signed_in, first_sql)
    rows_only = timed(lambda: page(f"/floor/{EXPERIMENT}/rows/"), args.repeat, warmup=2)
    line("+ access layer and the page's rows query, no HTML", rows_only, first_sql)
    raw = raw_queries(dt, events, args.repeat)
    line("the page's three queries alone, raw, back to back", raw, first_sql)
    line("events tab first page vs that floor", first, rows_only)
    if args.baseline:
        print(f"\n5. Events tab, experiment level: this code vs {args.baseline} (same run)")
        old_deep_url = f"{exp_url}&after={onset},{pk}"  # the baseline's cursors were not signed
        with Baseline(args.baseline, args.repeat) as baseline:
            for label, ours_url, old_url, target in (
                ("first page", exp_url, exp_url, 1.5),
                ("page 10,000 rows deep (keyset link)", deep_url, old_deep_url, None),
                ("filtered (category=media)", filtered_url, filtered_url, None),
            ):
                ours, theirs = alternate(lambda u=ours_url: page(u), baseline, old_url, args)
                ok &= line(f"{label} vs {args.baseline}", ours, theirs, target)
    if args.depth_sweep:
        depth_sweep(lambda: page(exp_url), args.repeat)
    if not args.skip_browser:
        ok &= browser_timings(args, exp_url, lambda: page(exp_url), n_events)
    print("\nall targets met" if ok else "\nsome targets missed (see OVER above)")


def deeper(k: int, fn: Callable[[], object]) -> object:
    """``fn`` called from ``k`` more Python frames than the caller's."""
    return fn() if k == 0 else deeper(k - 1, fn)


def depth_sweep(first_page: Callable[[], object], repeat: int) -> None:
    """Section 5b: the same first page requested from 0-124 extra frames of stack. CPython
    3.11 keeps its frames in 16 KB chunks and frees a chunk as soon as the frame at its base
    returns (python/cpython#142183, fixed in later 3.13 and 3.14 releases): where a chunk's
    end falls among the frames a template loop pushes and pops for every cell, each of those
    calls maps and unmaps a chunk. Which depth that is depends on the stack the request runs
    on, so the page's time does too; the sweep shows by how much."""
    times = [timed(lambda k=k: deeper(k, first_page), repeat, warmup=2) for k in range(0, 128, 4)]
    print("\n5b. Events tab, experiment level: the first page from 0, 4, ..., 124 extra frames")
    print("  " + " ".join(f"{t:.1f}" for t in times) + " ms")
    print(
        f"  at this script's depth {times[0]:.1f} ms; fastest {min(times):.1f}, median "
        f"{statistics.median(times):.1f}, slowest {max(times):.1f} ms"
    )


# Section 6: in Chromium, against gunicorn.

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# Installed in every page before its scripts run. A click on an htmx link notes
# performance.now(); the first htmx:afterSwap of the #records region after it (the new
# region, in the document) asks for the next frame, and a message posted from that frame's
# requestAnimationFrame arrives once the frame is rendered: that is "painted". The XHR's
# resource timing splits the time into request + server + transfer and what the browser did.
PAINT_PROBE = """
(() => {
  const b = (window.__paint = { done: null });
  const mark = (name) => {
    if (b.t0 != null && b[name] == null) b[name] = performance.now() - b.t0;
  };
  document.addEventListener("click", (e) => {
    if (!e.target.closest("a[hx-get]")) return;
    performance.clearResourceTimings();
    b.t0 = performance.now();
    b.history = b.pushed = b.swapped = b.settled = b.done = null;
  }, true);
  document.addEventListener("htmx:beforeHistorySave", () => mark("history"));
  document.addEventListener("htmx:pushedIntoHistory", () => mark("pushed"));
  document.addEventListener("htmx:afterSwap", (e) => {
    if (b.swapped != null || e.target.id !== "records") return;
    mark("swapped");
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        const xhr = performance.getEntriesByType("resource")
          .filter((r) => r.initiatorType === "xmlhttprequest").pop();
        b.done = {
          painted: performance.now() - b.t0,
          server: xhr ? xhr.responseStart - xhr.requestStart : null,
          received: xhr ? xhr.responseEnd - b.t0 : null,
        };
      };
      channel.port2.postMessage(null);
    });
  });
  document.addEventListener("htmx:afterSettle", (e) => {
    if (e.target.id === "records" && b.swapped != null) mark("settled");
  });
})();
"""

NAVIGATION = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  return {
    server: n.responseEnd - n.requestStart,
    ttfb: n.responseStart - n.requestStart,
    dcl: n.domContentLoadedEventEnd,
    load: n.loadEventEnd,
  };
}"""


def browser_timings(args, exp_url: str, test_client_page, n_events: int) -> bool:
    """Section 6: click -> painted table, and the events tab's navigation timing, in Chromium
    against gunicorn on this database. The page's server time is compared with section 1's
    measure of the same page (``test_client_page``: the Django test client in this process),
    taken in the same rounds as the browser's navigations so that load hits both alike."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test client's ORM calls
    # between its calls are plain synchronous ones (as in tests/conftest.py).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise, DEBUG off
    client = Client()
    client.force_login(get_user_model().objects.get(username="owner"))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    n = args.browser_runs
    print(
        f"\n6. In Chromium against gunicorn (DEBUG off), 1280 x 800, signed in as the owner: "
        f"median of {n}"
    )
    ok = True
    with gunicorn() as base, sync_playwright() as p:
        cookie = f"{settings.SESSION_COOKIE_NAME}={session}"

        def over_http() -> None:
            request = urllib.request.Request(base + exp_url, headers={"Cookie": cookie})  # noqa: S310
            with urllib.request.urlopen(request) as response:  # noqa: S310
                assert response.status == 200 and b'id="records"' in response.read()

        for _ in range(24):  # warm every thread of both processes (its connection, caches)
            over_http()
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base}])
        context.add_init_script(PAINT_PROBE)
        page = context.new_page()
        page.set_default_timeout(120_000)

        def click(selector: str) -> dict:
            page.click(selector)
            page.wait_for_function("window.__paint.done && window.__paint.settled != null")
            return page.evaluate("window.__paint")

        def show(label: str, runs: list[dict]) -> bool:
            def median(key: str) -> float:
                return statistics.median(r["done"].get(key, r.get(key)) or 0.0 for r in runs)

            painted = median("painted")
            met = painted <= 150
            print(f"  {label:<58} {painted:9.1f} ms  {'ok' if met else 'OVER 150 ms'}")
            # The records region keeps no history snapshot (hx-history="false"): htmx then
            # fires no beforeHistorySave, and only the URL is pushed.
            snapshot = (
                f"history snapshot {median('history'):.1f}-"
                if any(r.get("history") is not None for r in runs)
                else "no history snapshot, URL "
            )
            print(
                f"    after the click: response in {median('received'):.1f} (server "
                f"{median('server'):.1f}), {snapshot}pushed {median('pushed'):.1f}, swapped "
                f"{median('swapped'):.1f}, painted {painted:.1f}, settled "
                f"{median('settled'):.1f} ms"
            )
            return met

        sort_header = "#records thead th a[href*='sort=-onset']"
        page.goto(exp_url)
        click(sort_header)  # warm-up: static files cached, the server's caches filled
        sorts = []
        for _ in range(n):
            page.goto(exp_url)
            sorts.append(click(sort_header))
        print("  click to painted table (target <= 150 ms):")
        ok &= show("sort header: events by onset, ascending -> descending", sorts)
        page.goto(exp_url)
        to_chat, to_events = [], []
        click("#records .tabs a[data-tab=chat]")  # warm-up
        click("#records .tabs a[data-tab=events]")
        for _ in range(n):
            to_chat.append(click("#records .tabs a[data-tab=chat]"))
            to_events.append(click("#records .tabs a[data-tab=events]"))
        ok &= show("tab: events -> chat", to_chat)
        ok &= show(f"tab: chat -> events ({n_events:,} events)", to_events)

        navigations, http, reference = [], [], []

        def navigate() -> None:
            page.goto(exp_url, wait_until="load")
            page.wait_for_function("performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
            navigations.append(page.evaluate(NAVIGATION))

        measures = [
            navigate,
            lambda: http.append(timed(over_http, 1, warmup=0)),
            lambda: reference.append(timed(test_client_page, 1, warmup=0)),
        ]
        for i in range(n):  # interleaved rounds, each in another order, apart by a pause
            for measure in measures[i % 3 :] + measures[: i % 3]:
                time.sleep(0.3)  # what the previous one left the browser to do is done
                measure()
        browser.close()

    def median(key: str) -> float:
        return statistics.median(nav[key] for nav in navigations)

    print("  navigation to the experiment's events tab (Navigation Timing):")
    reference_ms = statistics.median(reference)
    ok &= line(
        "server: responseEnd - requestStart vs section 1 (test client)",
        median("server"),
        reference_ms,
        1.2,
    )
    line(
        "  the same page over HTTP, no browser (urllib) vs the same",
        statistics.median(http),
        reference_ms,
    )
    for key, label in (
        ("ttfb", "first byte: responseStart - requestStart"),
        ("dcl", "DOMContentLoaded (end, from navigation start)"),
        ("load", "load (end, from navigation start)"),
    ):
        print(f"  {label:<58} {median(key):9.1f} ms")
    return ok


def alternate(ours, baseline: Baseline, url: str, args) -> tuple[float, float]:
    """Medians of ``--rounds`` alternating timings of our page and the baseline's."""
    mine, theirs = [], []
    for _ in range(args.rounds):
        mine.append(timed(ours, args.repeat, warmup=2))
        theirs.append(baseline.time(url))
    return statistics.median(mine), statistics.median(theirs)


class Baseline:
    """The project at another commit, in a ``git worktree`` under var/, serving pages to time
    in a helper process of this script (same database, Redis and user)."""

    def __init__(self, rev: str, repeat: int) -> None:
        self.path = ROOT / "var" / f"baseline-{rev}"
        if not self.path.exists():
            self.path.parent.mkdir(exist_ok=True)
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(self.path), rev],
                check=True,
                capture_output=True,
            )
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--repeat", str(repeat)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "BENCH_PROJECT": str(self.path)},
            cwd=self.path,  # Celery's app puts the working directory first on sys.path
        )
        served_from = Path(self._reply())
        if not served_from.is_relative_to(self.path):
            raise SystemExit(f"the baseline process runs {served_from}, not {self.path}")

    def _reply(self) -> str:
        answer = self.process.stdout.readline().strip()
        if not answer:
            raise SystemExit("the baseline process stopped (see its error above)")
        return answer

    def time(self, url: str) -> float:
        self.process.stdin.write(url + "\n")
        self.process.stdin.flush()
        return float(self._reply())

    def __enter__(self) -> Baseline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def serve(repeat: int) -> None:
    """The baseline's side: time each URL read from stdin as the owner, answer in ms. The first
    line tells where the project's code was imported from."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    import data_browser

    settings.ALLOWED_HOSTS = ["*"]
    client = Client()
    client.force_login(get_user_model().objects.get(username="owner"))
    print(Path(data_browser.__file__).resolve().parent.parent, flush=True)
    for url in sys.stdin:

        def get(url: str = url.strip()) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        print(timed(get, repeat, warmup=2), flush=True)


def raw_queries(dt, events, repeat: int) -> float:
    """The SQL of the signed-in user (with profile), their memberships (with experiments) and
    the first page's rows, sent through a bare cursor with no request around them."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from data_browser.models import Membership

    users = get_user_model().objects
    owner = users.get(username="owner")
    queries = [
        qs.query.sql_with_params()
        for qs in (
            users.select_related("profile").filter(pk=owner.pk),
            Membership.objects.filter(user=owner).select_related("experiment"),
            events.values_list(*dt.columns).order_by("onset", "id")[:PER_PAGE],
        )
    ]

    def run() -> None:
        with connection.cursor() as cursor:
            for sql, params in queries:
                cursor.execute(sql, params)
                cursor.fetchall()

    return timed(run, repeat, warmup=2)


def floor_urls(settings, dt) -> None:
    """Serve the two floor views of section 4 beside the project's URLs (benchmark only)."""
    from django.contrib.auth.decorators import login_required
    from django.http import HttpResponse
    from django.urls import clear_url_caches, include, path

    from data_browser.tables import default_sort, page_records
    from data_browser.views import experiment_scope

    @login_required
    def signed_in(request):
        return HttpResponse("ok")

    @login_required
    def rows_only(request, exp_id):
        scope = experiment_scope(request, exp_id)
        sort = default_sort(dt)
        column = dt.get_field(sort).column
        qs = scope.records(dt)
        return HttpResponse(str(len(page_records(qs, dt.columns, column, sort, request.GET).rows)))

    module = types.ModuleType("browse_floor_urls")
    module.urlpatterns = [
        path("floor/signed-in/", signed_in),
        path("floor/<str:exp_id>/rows/", rows_only),
        path("", include(settings.ROOT_URLCONF)),
    ]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()


if __name__ == "__main__":
    main()
