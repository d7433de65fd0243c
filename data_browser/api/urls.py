"""The REST API v3, included at /api/v3/."""

from __future__ import annotations

from django.urls import path

from . import writes  # noqa: F401  (registers the write endpoints)
from .views import api

urlpatterns = [path("", api.urls)]
