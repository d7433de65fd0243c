from __future__ import annotations

import os

from celery import Celery

from .health import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hyperstudy_dash.settings")

app = Celery("hyperstudy_dash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].add(WorkerHeartbeat)
