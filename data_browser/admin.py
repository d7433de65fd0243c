"""The Django admin, for superusers and (with limited permissions) lab admins.

No record table is registered: data is reached only through the access layer.
Access, retention, status and deletions are changed on the product's pages, where
they are checked and audited, so here they are read-only for everyone but superusers;
a lab admin sees only their own lab and cannot raise anyone's privileges, their own
included. Audit entries are read-only for everyone.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from . import access
from .models import ApiKey, AuditEntry, DataRequest, Experiment, Lab, Membership, Profile

User = get_user_model()


def _lab_id(request: HttpRequest) -> int | None:
    p = access.profile(request.user)
    return p.lab_id if p is not None else None


class LabScoped(admin.ModelAdmin):
    """Superusers see everything; anyone else only rows of their own lab."""

    lab_path = "lab"
    superuser_only_fields: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return (
            qs.filter(**{f"{self.lab_path}_id": _lab_id(request)})
            if _lab_id(request)
            else qs.none()
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else fields + self.superuser_only_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Lab)
class LabAdmin(LabScoped):
    lab_path = "id"
    list_display = ("name", "slug")
    superuser_only_fields = ("slug",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = admin.ModelAdmin.get_queryset(self, request)
        return qs if request.user.is_superuser else qs.filter(pk=_lab_id(request))


@admin.register(Profile)
class ProfileAdmin(LabScoped):
    list_display = ("user", "lab", "is_lab_admin", "participant")
    list_filter = ("is_lab_admin",)
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("participant",)
    superuser_only_fields = ("user", "lab", "is_lab_admin", "participant")


@admin.register(Experiment)
class ExperimentAdmin(LabScoped):
    list_display = ("public_id", "name", "lab", "status", "retention_until", "created_at")
    list_filter = ("status", "allow_participant_requests")
    search_fields = ("public_id", "name")
    superuser_only_fields = (
        "public_id",
        "lab",
        "status",
        "status_before_archive",
        "retention_until",
    )


@admin.register(Membership)
class MembershipAdmin(LabScoped, ReadOnly):
    lab_path = "experiment__lab"
    list_display = ("experiment", "user", "role", "export_right", "created_at")
    list_filter = ("role", "export_right")
    search_fields = ("user__username", "experiment__public_id")


@admin.register(DataRequest)
class DataRequestAdmin(LabScoped, ReadOnly):
    lab_path = "experiment__lab"
    list_display = ("experiment", "kind", "status", "created_at", "decided_at")
    list_filter = ("kind", "status")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnly):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else access.lab_api_keys(request.user)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnly):
    list_display = ("created_at", "actor_label", "action", "experiment_label", "scope", "rows")
    list_filter = ("action",)
    search_fields = ("actor_label", "action", "experiment_label", "scope")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else access.audit_entries(request.user)


class LabUserAdmin(UserAdmin):
    """Lab admins edit the names and emails of their lab's accounts, nothing that grants power."""

    PRIVILEGES = ("is_staff", "is_superuser", "groups", "user_permissions", "is_active")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return access.lab_users(request.user).filter(is_superuser=False)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else fields + self.PRIVILEGES + ("password",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, LabUserAdmin)
