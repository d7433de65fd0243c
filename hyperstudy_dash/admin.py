"""The Django admin is for superusers only.

Lab admins manage people and access on the product's own pages, where every change is
checked and audited (data_browser/governance). ``is_staff`` alone opens nothing here: an
account that is not a superuser is sent to the admin's sign-in page, whatever its flags
or model permissions.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class SuperuserAdminSite(admin.AdminSite):
    site_header = "HyperStudy Data Dashboard administration"

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser
