"""Issue 13, item 8: password guessing on the sign-in form (django-axes, per account and per
address, a lock that grows, audited, explained and recoverable)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from data_browser.models import AuditEntry

from ..conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


def sign_in(client: Client, username: str, password: str, address: str = "10.9.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_thirty_wrong_passwords_lock_the_account_and_are_audited(client, world, settings):
    """The repro: 30 wrong passwords, no slowdown, no lock, nothing in the audit log."""
    answers = [sign_in(client, "owner", f"guess-{n}", f"10.9.1.{n}") for n in range(30)]
    limit = settings.SIGNIN_FAILURE_LIMIT
    assert [a.status_code for a in answers[: limit - 1]] == [200] * (limit - 1)
    assert {a.status_code for a in answers[limit - 1 :]} == {429}
    # The right password does not get in while the account is locked, from anywhere.
    locked = sign_in(client, "owner", PASSWORD, "10.9.2.1")
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    body = locked.content.decode()
    assert "sign-in is locked until" in body and 'name="username"' in body
    assert 'value="owner"' in body
    assert (
        AuditEntry.objects.filter(action="auth.login_failed", scope="account owner").count() == 31
    )
    (lock,) = AuditEntry.objects.filter(action="auth.locked_out", scope="account owner")
    assert lock.lab == world.lab and lock.details["failures"] == limit
    lab_admin = Client()
    lab_admin.force_login(world.user("labadmin"))
    log = lab_admin.get(reverse("data_browser:audit"), {"action": "auth.locked_out"})
    assert "account owner" in log.content.decode()


def test_the_lock_message_says_when_to_retry(client, world, settings):
    for n in range(settings.SIGNIN_FAILURE_LIMIT):
        response = sign_in(client, "viewer", f"wrong-{n}")
    assert response.status_code == 429
    until = re.search(r"locked until (\d\d):(\d\d) UTC \(in about (\d+) minutes\)", response.text)
    assert until and int(until.group(3)) == settings.SIGNIN_LOCKOUT_MINUTES
    expected = timezone.now() + timedelta(minutes=settings.SIGNIN_LOCKOUT_MINUTES)
    assert (int(until.group(1)), int(until.group(2))) in {
        (t.hour, t.minute) for t in (expected, expected - timedelta(minutes=1))
    }


def test_guesses_from_one_address_lock_that_address_for_every_account(client, world, settings):
    for n in range(settings.SIGNIN_FAILURE_LIMIT):
        sign_in(client, f"nobody-{n}", "guess", "10.9.3.3")
    assert sign_in(client, "viewer", PASSWORD, "10.9.3.3").status_code == 429
    assert sign_in(Client(), "viewer", PASSWORD, "10.9.3.4").status_code == 302


def test_each_further_lock_lasts_twice_as_long(client, world, settings):
    def lock_once() -> AuditEntry:
        for n in range(settings.SIGNIN_FAILURE_LIMIT):
            sign_in(client, "collaborator", f"wrong-{n}", f"10.9.4.{n}")
        return AuditEntry.objects.filter(action="auth.locked_out").latest("id")

    def minutes(entry: AuditEntry) -> float:
        until = datetime.fromisoformat(entry.details["until"])
        return (until - entry.created_at).total_seconds() / 60

    first = lock_once()
    # The first lock has passed: its attempts are older than the cool-off.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(hours=1))
    assert sign_in(client, "collaborator", PASSWORD, "10.9.4.99").status_code == 302
    client.logout()
    second = lock_once()
    base = settings.SIGNIN_LOCKOUT_MINUTES
    assert round(minutes(first)) == base and round(minutes(second)) == 2 * base


def test_a_lab_admin_unlocks_an_account_of_the_lab(client, world, settings):
    for n in range(settings.SIGNIN_FAILURE_LIMIT):
        sign_in(client, "viewer", f"wrong-{n}", f"10.9.5.{n}")
    assert sign_in(client, "viewer", PASSWORD, "10.9.5.50").status_code == 429
    lab_admin = Client()
    lab_admin.force_login(world.user("labadmin"))
    page = lab_admin.get(reverse("data_browser:lab_access")).content.decode()
    assert f'data-failed-sign-ins="{settings.SIGNIN_FAILURE_LIMIT}"' in page
    url = reverse("data_browser:lab_user_unlock", args=[world.user("viewer").pk])
    assert lab_admin.post(url).status_code == 302
    assert sign_in(client, "viewer", PASSWORD, "10.9.5.51").status_code == 302
    entry = AuditEntry.objects.filter(action="user.sign_in_unlocked").latest("id")
    assert (entry.actor, entry.scope) == (world.user("labadmin"), "account viewer")
    outsider = reverse("data_browser:lab_user_unlock", args=[world.user("outsider").pk])
    assert lab_admin.post(outsider).status_code == 404


def test_a_new_password_through_the_mailed_link_unlocks(client, world, settings, mailoutbox):
    for n in range(settings.SIGNIN_FAILURE_LIMIT):
        sign_in(client, "viewer", f"wrong-{n}", f"10.9.6.{n}")
    lab_admin = Client()
    lab_admin.force_login(world.user("labadmin"))
    lab_admin.post(reverse("data_browser:lab_user_password_reset", args=[world.user("viewer").pk]))
    link = re.search(r"https?://\S+/set-password/\S+/", mailoutbox[0].body).group(0)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(
        form_url, {"new_password1": "fresh-Start-pw-3", "new_password2": "fresh-Start-pw-3"}
    )
    assert sign_in(client, "viewer", "fresh-Start-pw-3", "10.9.6.77").status_code == 302


def test_signing_in_many_times_correctly_never_locks(client, world, settings):
    for _ in range(settings.SIGNIN_FAILURE_LIMIT + 1):
        assert sign_in(client, "owner", PASSWORD).status_code == 302
        client.logout()


def test_behind_a_proxy_each_client_is_locked_out_alone(world, settings):
    """Behind a reverse proxy every request comes from the proxy's address. With the proxy
    declared, a client's address is the entry the proxy added to X-Forwarded-For: one guesser
    locks out only its own address, another client through the same proxy signs in, and what
    a client writes into the header itself is not its address."""
    settings.XFF_TRUSTED_PROXY_DEPTH = 1
    settings.MIDDLEWARE = ["xff.middleware.XForwardedForMiddleware", *settings.MIDDLEWARE]

    def through_proxy(username: str, password: str, client: str, written: str = ""):
        forwarded = f"{written}, {client}" if written else client
        return Client().post(
            LOGIN,
            {"username": username, "password": password},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    for n in range(settings.SIGNIN_FAILURE_LIMIT):
        through_proxy(f"nobody-{n}", "guess", "203.0.113.7", written=f"198.51.100.{n}")
    assert through_proxy("viewer", PASSWORD, "203.0.113.7").status_code == 429
    assert through_proxy("viewer", PASSWORD, "203.0.113.8").status_code == 302
    failed = AuditEntry.objects.filter(action="auth.login_failed")
    assert set(failed.values_list("ip_address", flat=True)) == {"203.0.113.7"}


def test_without_a_proxy_the_forwarded_header_is_not_an_address(client, world, settings):
    """Not behind a proxy (the default), X-Forwarded-For is whatever the client wrote."""
    assert settings.XFF_TRUSTED_PROXY_DEPTH == 0
    client.post(
        LOGIN,
        {"username": "viewer", "password": "wrong"},
        REMOTE_ADDR="10.9.4.4",
        HTTP_X_FORWARDED_FOR="198.51.100.9",
    )
    (failed,) = AuditEntry.objects.filter(action="auth.login_failed")
    assert failed.ip_address == "10.9.4.4"
