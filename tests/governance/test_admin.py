"""The Django admin: no record tables, lab admins limited to their lab and unable to grant power."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from data_browser import datatypes as T
from data_browser.models import AuditEntry, Experiment

pytestmark = pytest.mark.django_db


def test_no_record_table_is_registered():
    for dt in T.DATA_TYPES:
        assert not admin.site.is_registered(dt.model)


def test_a_lab_admin_sees_only_their_lab(client, world):
    client.force_login(world.user("labadmin"))
    response = client.get(reverse("admin:data_browser_experiment_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert world.experiment.public_id in body and world.other.public_id not in body
    other = reverse("admin:data_browser_experiment_change", args=[world.other.pk])
    assert client.get(other).status_code == 302  # "does not exist" → back to the index


def test_a_lab_admin_cannot_make_anyone_superuser(client, world):
    admin_user = world.user("labadmin")
    client.force_login(admin_user)
    url = reverse("admin:auth_user_change", args=[admin_user.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="is_superuser"' not in page.content.decode()
    client.post(
        url,
        {"username": "labadmin", "is_superuser": "on", "is_staff": "on", "email": "x@y.z"},
    )
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser


def test_audit_entries_and_memberships_are_read_only(client, world):
    client.force_login(world.user("labadmin"))
    entry = AuditEntry.objects.filter(lab=world.lab).first() or AuditEntry.objects.create(
        action="x", prev_hash="0" * 64, entry_hash="f" * 64, lab=world.lab
    )
    delete = reverse("admin:data_browser_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    status_before = Experiment.objects.get(pk=world.experiment.pk).status
    client.post(
        reverse("admin:data_browser_experiment_change", args=[world.experiment.pk]),
        {"name": "Renamed", "status": "archived", "description": ""},
    )
    assert Experiment.objects.get(pk=world.experiment.pk).status == status_before
