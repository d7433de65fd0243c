"""The REST API v3, included at /api/v3/."""

from __future__ import annotations

from django.urls import path

from . import listings, writes  # noqa: F401  (register the listing and write endpoints)
from .views import api, unknown_data_type

# After every data endpoint: django matches the paths in the order they were added.
api.get("/data/{path:rest}", include_in_schema=False)(unknown_data_type)

urlpatterns = [path("", api.urls)]
