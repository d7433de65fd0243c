"""Sessions end: after SESSION_COOKIE_AGE of a session's life a request is sent to sign in."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_sessions_have_a_bounded_age():
    assert 0 < settings.SESSION_COOKIE_AGE <= 24 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_an_expired_session_no_longer_signs_in(client, world):
    client.force_login(world.user("owner"))
    url = reverse("data_browser:audit")
    assert client.get(url).status_code == 200
    session = client.session
    session.set_expiry(-1)  # what SESSION_COOKIE_AGE does once the time has passed
    session.save()
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
