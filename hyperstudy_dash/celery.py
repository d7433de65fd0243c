from __future__ import annotations

import os
import warnings

from celery import Celery
from celery.exceptions import SecurityWarning

from exports.watch import LostExportWatch

from . import logs  # noqa: F401  (the worker's log format)
from .health import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hyperstudy_dash.settings")

if os.environ.get("C_FORCE_ROOT"):
    # Root was chosen deliberately (Celery's own switch, set by `make run` as root; see README):
    # the switch lifts only Celery's refusal of pickle, so its warning is silenced here.
    warnings.filterwarnings("ignore", category=SecurityWarning)

app = Celery("hyperstudy_dash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].add(WorkerHeartbeat)
app.steps["worker"].add(LostExportWatch)
