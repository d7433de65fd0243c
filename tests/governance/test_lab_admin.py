"""The lab-wide Access page: accounts, every experiment's people, every API key."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from data_browser.api.keys import authenticate, create_key
from data_browser.models import ApiKey, AuditEntry, Profile

pytestmark = pytest.mark.django_db

LAB = reverse("data_browser:lab_access")
NEW_USER = reverse("data_browser:lab_user_create")


def test_it_shows_the_lab_admin_people_experiments_and_keys(client, world):
    key, _raw = create_key(world.user("collaborator"), name="colab laptop", scopes=["read:events"])
    outsider_key, _ = create_key(world.user("outsider"), name="not ours", scopes=["read:events"])
    client.force_login(world.user("labadmin"))
    response = client.get(LAB)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-user="viewer"' in body and 'data-user="outsider"' not in body
    assert f'data-experiment="{world.experiment.public_id}"' in body
    assert f'data-experiment="{world.other.public_id}"' not in body
    assert f'data-key="{key.prefix}"' in body and f'data-key="{outsider_key.prefix}"' not in body
    assert '<span class="badge status-active">active</span>' in body
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    expired = client.get(LAB).content.decode()
    assert '<span class="badge status-expired">expired</span>' in expired  # as keys.status says


@pytest.mark.parametrize(("role"), ["owner", "collaborator", "participant", "outsider"])
def test_it_is_forbidden_to_everyone_else(client, world, role):
    client.force_login(world.user(role))
    assert client.get(LAB).status_code == 403
    assert client.get(NEW_USER).status_code == 403


def _mailed_link(message) -> str:
    return re.search(r"https?://\S+/set-password/\S+/", message.body).group(0)


def test_it_invites_a_person_who_sets_their_own_password(client, world, mailoutbox):
    client.force_login(world.user("labadmin"))
    response = client.post(NEW_USER, {"username": "newstudent", "email": "ns@lab.test"})
    assert response.status_code == 302 and response.url == LAB
    user = get_user_model().objects.get(username="newstudent")
    assert not user.has_usable_password()
    assert Profile.objects.get(user=user).lab == world.lab
    assert "set-password" not in client.get(LAB).content.decode()  # never on the admin's screen
    (mail,) = mailoutbox
    assert mail.to == ["ns@lab.test"]
    link = _mailed_link(mail)
    client.logout()
    page = client.get(link, follow=True)
    assert page.status_code == 200 and "Set your password" in page.content.decode()
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    done = client.post(
        form_url, {"new_password1": "a-Long-passphrase-42", "new_password2": "a-Long-passphrase-42"}
    )
    assert done.status_code == 302 and done.url == reverse("login")
    assert client.login(username="newstudent", password="a-Long-passphrase-42")
    assert client.get(link, follow=True).context["validlink"] is False  # used once only
    assert AuditEntry.objects.filter(action="user.created", lab=world.lab).exists()
    changed = AuditEntry.objects.filter(action="user.password_changed").latest("id")
    assert changed.actor == user and changed.lab == world.lab


def test_a_lab_admin_cannot_choose_a_new_accounts_password(client, world, mailoutbox):
    """Issue 13, item 1: a password in the form is ignored; the account has none until its
    owner follows the mailed link."""
    client.force_login(world.user("labadmin"))
    response = client.post(
        NEW_USER, {"username": "pw-user", "email": "pw@lab.test", "password": "another-Long-77"}
    )
    assert response.status_code == 302
    assert not get_user_model().objects.get(username="pw-user").has_usable_password()
    assert not client.login(username="pw-user", password="another-Long-77")
    assert [m.to for m in mailoutbox] == [["pw@lab.test"]]


def test_a_lab_admin_sends_a_password_reset_link_but_never_sees_it(client, world, mailoutbox):
    viewer = world.user("viewer")
    client.force_login(world.user("labadmin"))
    url = reverse("data_browser:lab_user_password_reset", args=[viewer.pk])
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert "set-password" not in response.content.decode()
    (mail,) = mailoutbox
    assert mail.to == [viewer.email]
    assert viewer.check_password("hyperstudy-demo")  # unchanged until they choose
    entry = AuditEntry.objects.filter(action="user.password_reset_sent").latest("id")
    assert (entry.actor, entry.scope) == (world.user("labadmin"), "account viewer")
    log = client.get(reverse("data_browser:audit"), {"action": "user.password_reset_sent"})
    assert "account viewer" in log.content.decode()
    stranger = client.__class__()
    page = stranger.get(_mailed_link(mail), follow=True)
    form_url = page.redirect_chain[-1][0]
    stranger.post(
        form_url, {"new_password1": "my-Own-choice-55", "new_password2": "my-Own-choice-55"}
    )
    assert stranger.login(username="viewer", password="my-Own-choice-55")


def test_reset_links_only_for_the_labs_own_active_accounts(client, world, mailoutbox):
    client.force_login(world.user("labadmin"))
    outsider = reverse("data_browser:lab_user_password_reset", args=[world.user("outsider").pk])
    assert client.post(outsider).status_code == 404
    get_user_model().objects.filter(pk=world.user("viewer").pk).update(email="")
    no_mail = reverse("data_browser:lab_user_password_reset", args=[world.user("viewer").pk])
    response = client.post(no_mail)
    assert response.status_code == 400 and "no email address" in response.content.decode()
    assert mailoutbox == []
    client.force_login(world.user("owner"))
    assert client.post(no_mail).status_code == 403


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "viewer", "email": "v@lab.test"}, "is taken"),
        ({"username": "nomail"}, "required"),
        ({"username": "x", "email": "not-an-email"}, "valid email"),
        ({"username": "", "email": "e@lab.test"}, "required"),
    ],
)
def test_it_refuses_bad_accounts(client, world, data, message):
    client.force_login(world.user("labadmin"))
    before = get_user_model().objects.count()
    response = client.post(NEW_USER, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert get_user_model().objects.count() == before


def test_it_deactivates_and_reactivates_an_account(client, world):
    viewer = world.user("viewer")
    url = reverse("data_browser:lab_user_active", args=[viewer.pk])
    client.force_login(world.user("labadmin"))
    assert client.post(url, {"active": "0"}).status_code == 302
    viewer.refresh_from_db()
    assert not viewer.is_active
    again = client.post(url, {"active": "0"})
    assert again.status_code == 400 and "already deactivated" in again.content.decode()
    other = client.__class__()
    assert not other.login(username="viewer", password="hyperstudy-demo")
    assert client.post(url, {"active": "1"}).status_code == 302
    assert other.login(username="viewer", password="hyperstudy-demo")
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"user.deactivated", "user.activated"} <= actions


def test_it_deactivation_ends_an_open_session(client, world):
    client.force_login(world.user("viewer"))
    assert client.get(reverse("data_browser:access")).status_code == 200
    admin = client.__class__()
    admin.force_login(world.user("labadmin"))
    url = reverse("data_browser:lab_user_active", args=[world.user("viewer").pk])
    assert admin.post(url, {"active": "0"}).status_code == 302
    assert client.get(reverse("data_browser:access")).status_code == 302  # back to sign-in


def test_it_cannot_touch_accounts_of_another_lab_or_itself(client, world):
    client.force_login(world.user("labadmin"))
    outsider = reverse("data_browser:lab_user_active", args=[world.user("outsider").pk])
    assert client.post(outsider, {"active": "0"}).status_code == 404
    me = reverse("data_browser:lab_user_active", args=[world.user("labadmin").pk])
    assert client.post(me, {"active": "0"}).status_code == 400
    world.user("outsider").refresh_from_db()
    assert world.user("outsider").is_active


def test_it_revokes_any_key_in_the_lab(client, world):
    key, raw = create_key(world.user("collaborator"), name="colab laptop", scopes=["read:events"])
    assert authenticate(raw) is not None
    client.force_login(world.user("labadmin"))
    url = reverse("data_browser:lab_key_revoke", args=[key.pk])
    first = client.post(url)  # the confirmation: what revoking takes away, nothing revoked
    assert first.status_code == 200 and "Revoke permanently" in first.text
    assert dict(first.context["confirm"].rows)["Experiments it reads now"] == 1
    key.refresh_from_db()
    assert key.revoked_at is None and authenticate(raw) is not None
    assert client.post(url, {"confirmed": "1"}).status_code == 302
    key.refresh_from_db()
    assert key.revoked_by == world.user("labadmin") and key.revoked_at is not None
    assert authenticate(raw) is None
    again = client.post(url)
    assert again.status_code == 400 and "already revoked" in again.content.decode()
    entry = AuditEntry.objects.filter(action="api_key.revoked").latest("id")
    assert entry.actor == world.user("labadmin") and entry.details["owner"] == "collaborator"


def test_it_cannot_revoke_a_key_of_another_lab(client, world):
    key, raw = create_key(world.user("outsider"), name="theirs", scopes=["read:events"])
    client.force_login(world.user("labadmin"))
    url = reverse("data_browser:lab_key_revoke", args=[key.pk])
    assert client.post(url).status_code == 404
    assert authenticate(raw) is not None
    client.force_login(world.user("owner"))
    assert client.post(url).status_code == 403
