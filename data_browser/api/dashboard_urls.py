from __future__ import annotations

from django.urls import path

from . import dashboard

urlpatterns = [
    path("", dashboard.api_keys, name="api_keys"),
    path("<int:pk>/", dashboard.key_detail, name="api_key_detail"),
    path("<int:pk>/edit/", dashboard.key_edit, name="api_key_edit"),
    path("<int:pk>/revoke/", dashboard.revoke, name="api_key_revoke"),
    path("docs/", dashboard.api_docs, name="api_docs"),
]
