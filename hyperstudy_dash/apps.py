"""The project's own app configurations."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "hyperstudy_dash.admin.SuperuserAdminSite"
