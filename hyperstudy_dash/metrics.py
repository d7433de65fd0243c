"""Prometheus metrics on /metrics (off unless METRICS_ENABLED).

Request latency by view and responses by view and status come from django-prometheus's
middleware; this module adds what is ours. Counters that happen in the web process (API
requests by status, ingested records per type) are prometheus_client counters. What happens
elsewhere is read when Prometheus scrapes, so it is right with any number of workers on any
number of machines: export jobs by state and their durations from the ExportJob table, and the
Celery queue length from the broker.

Access: the client address must be in METRICS_ALLOWED_ADDRESSES (addresses or networks), or
the request must carry ``Authorization: Bearer <METRICS_TOKEN>``. Anything else is a 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

log = logging.getLogger(__name__)

API_REQUESTS = Counter(
    "hyperstudy_api_requests", "REST API requests by response status.", ["status"]
)
INGESTED_RECORDS = Counter(
    "hyperstudy_ingest_records",
    "Records sent to ingest, by data type and outcome (accepted, duplicate, rejected).",
    ["type", "outcome"],
)
EXPORT_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)


def count_ingest(data_type: str, accepted: int, duplicates: int, rejected: int) -> None:
    for outcome, n in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
        if n:
            INGESTED_RECORDS.labels(type=data_type, outcome=outcome).inc(n)


class ApiRequestMetrics:
    """Counts every answer under /api/ by status (401s and 429s included)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            API_REQUESTS.labels(status=str(response.status_code)).inc()
        return response


class ExportJobCollector:
    """Export jobs by state, and the durations of the finished ones still kept."""

    def collect(self) -> Iterator[Metric]:
        from exports.models import ExportJob, Status

        jobs = GaugeMetricFamily(
            "hyperstudy_export_jobs", "Export jobs by state (rows kept).", labels=["state"]
        )
        counts = dict(ExportJob.objects.values_list("status").annotate(n=Count("id")))
        for state in Status.values:
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs

        duration = HistogramMetricFamily(
            "hyperstudy_export_job_duration_seconds",
            "Run time of finished export jobs (started to finished), by final state.",
            labels=["state"],
        )
        finished = ExportJob.objects.filter(
            started_at__isnull=False, finished_at__isnull=False
        ).annotate(took=F("finished_at") - F("started_at"))
        aggregates = {
            f"le_{b}": Count("id", filter=Q(took__lte=timedelta(seconds=b)))
            for b in EXPORT_DURATION_BUCKETS
        }
        for state in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED):
            row = finished.filter(status=state).aggregate(
                n=Count("id"), total=Sum("took"), **aggregates
            )
            buckets = [(str(float(b)), row[f"le_{b}"]) for b in EXPORT_DURATION_BUCKETS]
            buckets.append(("+Inf", row["n"]))
            total = row["total"].total_seconds() if row["total"] else 0.0
            duration.add_metric([state], buckets, total)
        yield duration


class QueueCollector:
    """Messages waiting in the Celery queue (all priorities), read from the broker."""

    def collect(self) -> Iterator[Metric]:
        queue = GaugeMetricFamily(
            "hyperstudy_celery_queue_length", "Tasks waiting in the broker.", labels=["queue"]
        )
        try:
            queue.add_metric(["celery"], queue_length("celery"))
        except Exception as exc:  # a scrape still answers; /readyz says the broker is down
            log.warning("metrics: could not read the queue length (%s)", exc)
            return
        yield queue


def queue_length(name: str) -> int:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        return sum(1 for entry in os.scandir(folder) if entry.name.endswith(f".{name}.msg"))
    from hyperstudy_dash.health import broker_client

    client = broker_client(url)
    # kombu's Redis transport keeps one list per priority step: name, name\x06\x163, …
    with client.pipeline(transaction=False) as pipe:
        for step in ("", "\x06\x163", "\x06\x166", "\x06\x169"):
            pipe.llen(name + step)
        return sum(pipe.execute())


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_ADDRESSES:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            log.warning("metrics: METRICS_ALLOWED_ADDRESSES holds %r, not an address", allowed)
    return False


def _registries() -> list[CollectorRegistry]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several gunicorn processes: add up what each wrote into the shared folder.
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    ours = CollectorRegistry()
    ours.register(ExportJobCollector())
    ours.register(QueueCollector())
    return [base, ours]


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are off")
    if not _allowed(request):
        return HttpResponseForbidden("Not allowed to read metrics", content_type="text/plain")
    body = b"".join(generate_latest(registry) for registry in _registries())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
