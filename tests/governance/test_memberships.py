"""The Access page of one experiment, role by role."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from data_browser import access
from data_browser.api.keys import create_key
from data_browser.models import AuditEntry, ExportRight, Membership
from tests.factories import ExportJobFactory

CONFIRMED = {"confirmed": "1"}  # the confirmation page's own POST

pytestmark = pytest.mark.django_db


def url(name, exp, *args):
    return reverse(f"data_browser:{name}", args=[exp.public_id, *args])


def membership(world, role):
    return Membership.objects.get(user=world.user(role), experiment=world.experiment)


@pytest.fixture
def newcomer(world):
    return get_user_model().objects.create_user(
        "newcomer", email="newcomer@lab.test", password="x-unused-pass-1"
    )


def test_it_shows_owners_the_members_and_the_forms(client, world):
    client.force_login(world.user("owner"))
    response = client.get(url("experiment_access", world.experiment))
    assert response.status_code == 200
    body = response.content.decode()
    for name in ("owner", "collaborator", "viewer", "fullcollab"):
        assert f'data-member="{name}"' in body
    assert "Add a collaborator" in body and "Retention" in body


def test_it_shows_collaborators_the_page_read_only(client, world):
    client.force_login(world.user("collaborator"))
    response = client.get(url("experiment_access", world.experiment))
    assert response.status_code == 200
    body = response.content.decode()
    assert "read-only" in body
    assert "Add a collaborator" not in body
    assert "member_change" not in body and "/members/" not in body


@pytest.mark.parametrize("role", ["participant", "outsider"])
def test_it_hides_the_page_from_people_without_a_membership(client, world, role):
    client.force_login(world.user(role))
    assert client.get(url("experiment_access", world.experiment)).status_code == 404


def test_it_lets_the_lab_admin_manage_without_a_membership(client, world):
    client.force_login(world.user("labadmin"))
    response = client.get(url("experiment_access", world.experiment))
    assert response.status_code == 200
    assert "Grant myself view access" in response.content.decode()


def test_it_adds_a_collaborator_by_email_with_a_right(client, world, newcomer):
    client.force_login(world.user("owner"))
    response = client.post(
        url("member_add", world.experiment),
        {"identifier": "NEWCOMER@lab.test", "role": "collaborator", "export_right": "deidentified"},
    )
    assert response.status_code == 302
    m = Membership.objects.get(user=newcomer, experiment=world.experiment)
    assert m.export_right == ExportRight.DEIDENTIFIED
    assert access.for_user(newcomer).allowed_anonymizations(world.experiment) == [
        "remove",
        "aggregate",
    ]
    entry = AuditEntry.objects.filter(action="membership.added").latest("id")
    assert entry.actor == world.user("owner") and entry.experiment == world.experiment
    assert entry.details["export_right"] == "deidentified"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"identifier": "nobody-here", "role": "collaborator", "export_right": "none"},
            "No account",
        ),
        (
            {"identifier": "newcomer", "role": "collaborator", "export_right": "godmode"},
            "valid choice",
        ),
        ({"identifier": "newcomer", "role": "emperor", "export_right": "none"}, "valid choice"),
        ({"identifier": "viewer", "role": "collaborator", "export_right": "none"}, "already has"),
        (
            {"identifier": "participant", "role": "collaborator", "export_right": "none"},
            "participant",
        ),
    ],
)
def test_it_refuses_bad_additions_with_a_message(client, world, newcomer, data, message):
    client.force_login(world.user("owner"))
    before = Membership.objects.count(), AuditEntry.objects.count()
    response = client.post(url("member_add", world.experiment), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert (Membership.objects.count(), AuditEntry.objects.count()) == before


def test_it_changes_and_removes_a_collaborator(client, world):
    client.force_login(world.user("owner"))
    viewer = membership(world, "viewer")
    response = client.post(
        url("member_change", world.experiment, viewer.pk),
        {"role": "collaborator", "export_right": "aggregate"},
    )
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.export_right == ExportRight.AGGREGATE
    entry = AuditEntry.objects.filter(action="membership.changed").latest("id")
    assert entry.details["before"]["export_right"] == "none"
    assert entry.details["after"]["export_right"] == "aggregate"
    response = client.post(url("member_remove", world.experiment, viewer.pk), CONFIRMED)
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    assert AuditEntry.objects.filter(action="membership.removed").exists()


def test_removing_a_member_first_counts_what_goes_and_removes_nothing(client, world):
    viewer = membership(world, "viewer")
    create_key(viewer.user, name="viewer laptop", scopes=["read:events"])
    create_key(viewer.user, name="this one", scopes=["read:events"], experiments=[world.experiment])
    ExportJobFactory(user=viewer.user, experiment=world.experiment)
    ExportJobFactory(user=viewer.user, experiment=world.experiment, status="succeeded")
    ExportJobFactory(user=viewer.user, experiment=world.other)
    client.force_login(world.user("owner"))
    response = client.post(url("member_remove", world.experiment, viewer.pk))
    assert response.status_code == 200
    rows = dict(response.context["confirm"].rows)
    assert rows["Membership of viewer (collaborator)"] == 1
    assert rows["Their API keys that read this experiment (they stop reading it)"] == 2
    assert rows["Their exports of it still running (they end, denied)"] == 1
    page = response.text
    assert f"Remove viewer from {world.experiment.name}?" in page
    assert 'name="confirmed" value="1"' in page and ">Remove viewer</button>" in page
    assert Membership.objects.filter(pk=viewer.pk).exists()
    assert not AuditEntry.objects.filter(action="membership.removed").exists()


def test_it_forbids_collaborators_to_change_their_own_right(client, world):
    client.force_login(world.user("collaborator"))
    mine = membership(world, "collaborator")
    response = client.post(
        url("member_change", world.experiment, mine.pk), {"role": "owner", "export_right": "full"}
    )
    assert response.status_code == 403
    mine.refresh_from_db()
    assert (mine.role, mine.export_right) == ("collaborator", "deidentified")


def test_it_forbids_collaborators_every_change(client, world):
    client.force_login(world.user("fullcollab"))
    viewer = membership(world, "viewer")
    assert client.post(url("member_add", world.experiment), {"identifier": "x"}).status_code == 403
    assert client.post(url("member_remove", world.experiment, viewer.pk)).status_code == 403
    assert Membership.objects.filter(pk=viewer.pk).exists()


def test_it_keeps_at_least_one_owner(client, world):
    client.force_login(world.user("owner"))
    mine = membership(world, "owner")
    asked = client.post(url("member_remove", world.experiment, mine.pk))  # refused at once
    assert asked.status_code == 400 and "at least one owner" in asked.text
    response = client.post(url("member_remove", world.experiment, mine.pk), CONFIRMED)
    assert response.status_code == 400
    assert "at least one owner" in response.content.decode()
    client.force_login(world.user("labadmin"))
    response = client.post(
        url("member_change", world.experiment, mine.pk),
        {"role": "collaborator", "export_right": "full"},
    )
    assert response.status_code == 400
    assert Membership.objects.get(pk=mine.pk).role == Membership.Role.OWNER


def test_it_shares_ownership(client, world):
    client.force_login(world.user("owner"))
    response = client.post(
        url("ownership", world.experiment), {"identifier": "fullcollab", "mode": "share"}
    )
    assert response.status_code == 302
    assert membership(world, "fullcollab").role == Membership.Role.OWNER
    assert membership(world, "owner").role == Membership.Role.OWNER
    # With two owners, the first may now leave.
    mine = membership(world, "owner")
    response = client.post(url("member_remove", world.experiment, mine.pk), CONFIRMED)
    assert response.status_code == 302


def test_it_transfers_ownership_and_steps_the_owner_down(client, world):
    client.force_login(world.user("owner"))
    response = client.post(
        url("ownership", world.experiment), {"identifier": "viewer", "mode": "transfer"}
    )
    assert response.status_code == 302
    assert membership(world, "viewer").role == Membership.Role.OWNER
    me = membership(world, "owner")
    assert (me.role, me.export_right) == ("collaborator", "full")
    assert not access.for_user(world.user("owner")).is_owner(world.experiment)
    assert AuditEntry.objects.filter(action="ownership.transferred").exists()


def test_it_lets_a_lab_admin_grant_themselves_access_and_audits_it(client, world):
    admin = world.user("labadmin")
    client.force_login(admin)
    response = client.post(
        url("member_add", world.experiment),
        {"identifier": "labadmin", "role": "collaborator", "export_right": "none"},
    )
    assert response.status_code == 302
    assert access.for_user(admin).membership(world.experiment) is not None
    entry = AuditEntry.objects.filter(action="membership.added").latest("id")
    assert entry.details["self_granted"] is True
    assert entry.actor == admin


def test_it_refuses_to_manage_another_labs_experiment(client, world):
    client.force_login(world.user("labadmin"))
    response = client.post(
        url("member_add", world.other),
        {"identifier": "labadmin", "role": "owner", "export_right": "full"},
    )
    assert response.status_code == 404
    assert not Membership.objects.filter(
        user=world.user("labadmin"), experiment=world.other
    ).exists()


def test_it_lists_a_members_experiments_on_the_access_index(client, world):
    client.force_login(world.user("viewer"))
    response = client.get(reverse("data_browser:access"))
    assert response.status_code == 200
    assert world.experiment.public_id in response.content.decode()
    assert world.solo.public_id not in response.content.decode()


def test_it_sends_lab_admins_from_the_access_index_to_the_lab_page(client, world):
    client.force_login(world.user("labadmin"))
    response = client.get(reverse("data_browser:access"))
    assert response.status_code == 302
    assert response.url == reverse("data_browser:lab_access")
