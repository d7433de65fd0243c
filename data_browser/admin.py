"""The Django admin, for superusers only (``hyperstudy_dash.admin.SuperuserAdminSite``).

No record table is registered: data is reached only through the access layer. Every
addition, change and deletion made here is also written to the product's audit log, so a
superuser's password change or edit of an account shows there like the lab admins' own
changes do. Audit entries are read-only.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from . import access, audit
from .models import ApiKey, AuditEntry, DataRequest, Experiment, Lab, Membership, Profile

User = get_user_model()


def _lab_of(obj: Any) -> Lab | None:
    if isinstance(obj, Lab):
        return obj
    if isinstance(obj, User):
        profile = access.profile(obj)
        return profile.lab if profile is not None else None
    if getattr(obj, "lab_id", None):
        return obj.lab
    experiment = getattr(obj, "experiment", None)
    return experiment.lab if isinstance(experiment, Experiment) else None


def _changed_fields(message: Any) -> set[str]:
    if not isinstance(message, list):
        return set()
    return {str(f) for part in message for f in part.get("changed", {}).get("fields", [])}


class Audited(admin.ModelAdmin):
    """Writes the admin's own log and an audit entry for every change made here."""

    def _audit(self, request: HttpRequest, obj: Any, action: str, message: Any) -> None:
        if isinstance(obj, User):
            scope = f"account {obj.get_username()}"
        else:
            scope = f"{obj._meta.verbose_name} #{obj.pk}"
        audit.record(
            action,
            request=request,
            lab=_lab_of(obj),
            scope=scope,
            details={"via": "admin", "change": orjson.loads(orjson.dumps(message, default=str))},
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "admin.added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        action = "admin.changed"
        if isinstance(obj, User) and _changed_fields(message) & {"password", "Password"}:
            action = "user.password_changed"
        self._audit(request, obj, action, message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, obj, "admin.deleted", str(obj))
        return super().log_deletions(request, queryset)


class ReadOnly(Audited):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Lab)
class LabAdmin(Audited):
    list_display = ("name", "slug")


@admin.register(Profile)
class ProfileAdmin(Audited):
    list_display = ("user", "lab", "is_lab_admin", "participant")
    list_filter = ("is_lab_admin",)
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("participant",)


@admin.register(Experiment)
class ExperimentAdmin(Audited):
    list_display = ("public_id", "name", "lab", "status", "retention_until", "created_at")
    list_filter = ("status", "allow_participant_requests")
    search_fields = ("public_id", "name")


@admin.register(Membership)
class MembershipAdmin(ReadOnly):
    """Memberships change on the experiments' access pages, where the rules are checked."""

    list_display = ("experiment", "user", "role", "export_right", "created_at")
    list_filter = ("role", "export_right")
    search_fields = ("user__username", "experiment__public_id")


@admin.register(DataRequest)
class DataRequestAdmin(ReadOnly):
    list_display = ("experiment", "kind", "status", "created_at", "decided_at")
    list_filter = ("kind", "status")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnly):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnly):
    list_display = ("created_at", "actor_label", "action", "experiment_label", "scope", "rows")
    list_filter = ("action",)
    search_fields = ("actor_label", "action", "experiment_label", "scope")


class AuditedUserAdmin(Audited, UserAdmin):
    pass


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
