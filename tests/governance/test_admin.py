"""The Django admin: superusers only, no record tables, every change in the audit log.

Issue 13, item 1 was a lab admin taking over a researcher's account through the admin's
password form; these tests are that attack and its neighbours.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from data_browser import datatypes as T
from data_browser.models import AuditEntry, Experiment

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "taken-Over-passphrase-91"


@pytest.fixture
def root(world):
    return get_user_model().objects.create_superuser("root", "root@lab.test", "root-Pass-phrase-1")


def test_no_record_table_is_registered():
    for dt in T.DATA_TYPES:
        assert not admin.site.is_registered(dt.model)


def test_a_lab_admin_cannot_take_over_a_researchers_account(client, world):
    """The repro: GET the admin's password form of a full collaborator, POST a new password,
    sign in as them."""
    victim = world.user("fullcollab")
    client.force_login(world.user("labadmin"))
    url = reverse("admin:auth_user_password_change", args=[victim.pk])
    page = client.get(url)
    assert page.status_code == 302 and page["Location"].startswith(reverse("admin:login"))
    posted = client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert posted.status_code == 302 and posted["Location"].startswith(reverse("admin:login"))
    victim.refresh_from_db()
    assert not victim.check_password(NEW_PASSWORD)
    assert not Client().login(username="fullcollab", password=NEW_PASSWORD)


def test_a_lab_admin_sees_no_participant_ids_in_the_admin(client, world):
    client.force_login(world.user("labadmin"))
    response = client.get(reverse("admin:data_browser_profile_changelist"), follow=True)
    assert world.participant.public_id not in response.content.decode()
    assert response.redirect_chain[0][0].startswith(reverse("admin:login"))


def test_staff_flags_and_model_permissions_alone_open_nothing(client, world):
    viewer = world.user("viewer")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(*Permission.objects.all())
    client.force_login(viewer)
    assert client.get(reverse("admin:index")).status_code == 302
    url = reverse("admin:auth_user_change", args=[viewer.pk])
    client.post(url, {"username": "viewer", "is_superuser": "on", "email": "x@y.z"})
    viewer.refresh_from_db()
    assert not viewer.is_superuser


def test_a_superusers_password_change_is_in_the_audit_log(client, world, root):
    victim = world.user("fullcollab")
    client.force_login(root)
    assert client.get(reverse("admin:index")).status_code == 200
    url = reverse("admin:auth_user_password_change", args=[victim.pk])
    response = client.post(
        url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    )
    assert response.status_code == 302, response.content
    victim.refresh_from_db()
    assert victim.check_password(NEW_PASSWORD)
    entry = AuditEntry.objects.filter(action="user.password_changed").latest("id")
    assert (entry.actor, entry.scope, entry.lab) == (root, "account fullcollab", world.lab)
    lab_admin = Client()
    lab_admin.force_login(world.user("labadmin"))
    log = lab_admin.get(reverse("data_browser:audit"), {"action": "user.password_changed"})
    assert "account fullcollab" in log.content.decode()


def test_audit_entries_and_memberships_stay_read_only_for_superusers(client, world, root):
    client.force_login(root)
    entry = AuditEntry.objects.filter(lab=world.lab).first() or AuditEntry.objects.create(
        action="x", prev_hash="0" * 64, entry_hash="f" * 64, lab=world.lab
    )
    delete = reverse("admin:data_browser_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    membership = world.experiment.memberships.get(user=world.user("viewer"))
    change = reverse("admin:data_browser_membership_change", args=[membership.pk])
    client.post(change, {"role": "owner", "export_right": "full"})
    membership.refresh_from_db()
    assert (membership.role, membership.export_right) == ("collaborator", "none")


def test_a_lab_admin_cannot_change_an_experiment_there(client, world):
    client.force_login(world.user("labadmin"))
    status_before = Experiment.objects.get(pk=world.experiment.pk).status
    client.post(
        reverse("admin:data_browser_experiment_change", args=[world.experiment.pk]),
        {"name": "Renamed", "status": "archived", "description": ""},
    )
    assert Experiment.objects.get(pk=world.experiment.pk).status == status_before
