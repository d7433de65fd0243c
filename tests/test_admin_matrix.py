"""The Django admin's access matrix: every page of every registered model, for every role
of the product and for a superuser.

Only a superuser gets a page; everyone else, lab admins and accounts with ``is_staff``
included, is sent to the admin's sign-in page, whether they GET or POST (issue 13, item 1:
a lab admin set a researcher's password through ``/admin/auth/user/<pk>/password/``).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from data_browser.models import ApiKey, AuditEntry, DataRequest, Membership

from .test_access_matrix import ROLES

READ_ONLY = (Membership, DataRequest, ApiKey, AuditEntry)  # changed on the product's pages
VIEWS = ("changelist", "add", "change", "delete", "history")


def _object(model, world):
    obj = model._default_manager.order_by("pk").first()
    if obj is None and model is Group:
        obj = Group.objects.create(name="admin matrix")
    if obj is None and model is AuditEntry:
        obj = AuditEntry.objects.create(action="x", prev_hash="0" * 64, entry_hash="f" * 64)
    if obj is None and model is DataRequest:
        obj = DataRequest.objects.create(
            participant=world.participant,
            experiment=world.experiment,
            kind=DataRequest.Kind.ACCESS,
            requested_by=world.user("participant"),
        )
    if obj is None and model is ApiKey:
        from data_browser.api.keys import create_key

        obj, _raw = create_key(world.user("owner"), name="admin matrix", scopes=["read:events"])
    return obj


def admin_pages(world) -> dict[str, tuple[str, int]]:
    """URL name → (URL, what a superuser gets)."""
    pages = {"admin:index": (reverse("admin:index"), 200)}
    for model in admin.site._registry:
        meta = model._meta
        obj = _object(model, world)
        for view in VIEWS:
            name = f"admin:{meta.app_label}_{meta.model_name}_{view}"
            args = [obj.pk] if view in ("change", "delete", "history") else []
            read_only = model in READ_ONLY and view in ("add", "delete")
            pages[name] = (reverse(name, args=args), 403 if read_only else 200)
    victim = world.user("fullcollab")
    pages["admin:auth_user_password_change"] = (
        reverse("admin:auth_user_password_change", args=[victim.pk]),
        200,
    )
    return pages


PAGE_NAMES = ["admin:index", "admin:auth_user_password_change"] + [
    f"admin:{m._meta.app_label}_{m._meta.model_name}_{v}"
    for m in admin.site._registry
    for v in VIEWS
]


def test_every_registered_model_is_in_the_matrix(world):
    assert set(admin_pages(world)) == set(PAGE_NAMES)
    assert get_user_model() in admin.site._registry


def _client(world, role: str) -> Client:
    client = Client()
    if role == "superuser":
        client.force_login(
            get_user_model().objects.create_superuser("matrix-root", "r@lab.test", "x-Root-pw-1")
        )
    elif role != "anonymous":
        client.force_login(world.user(role))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("role", [*ROLES, "superuser"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_only_superusers_get_admin_pages(world, role, method):
    client = _client(world, role)
    login = reverse("admin:login")
    for name, (url, superuser_status) in admin_pages(world).items():
        response = getattr(client, method)(url)
        if role != "superuser":
            assert response.status_code == 302, f"{method} {name} as {role}"
            assert response["Location"].startswith(login), f"{method} {name} as {role}"
        elif method == "get":
            assert response.status_code == superuser_status, f"{name} as superuser"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_the_admin_sign_in_page_turns_away_everyone_but_superusers(world, role):
    client = _client(world, role)
    response = client.get(reverse("admin:login"))
    assert response.status_code in (200, 302)
    if role != "anonymous":
        assert "not authorized to access this page" in response.content.decode()
