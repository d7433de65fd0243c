"""Shared test fixtures: one demo world with a user for every role, and a real browser.

The small demo is loaded once per session into the test database; tests run
inside transactions that roll back. Transactional tests (live server, worker)
flush the database, and ``world`` loads the demo again when it is gone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings

from data_browser.demo import seed
from data_browser.models import (
    Experiment,
    ExportRight,
    Lab,
    Membership,
    Participant,
    Profile,
    Room,
    RoomParticipant,
)
from tests.factories import (
    PASSWORD,
    ExperimentFactory,
    LabFactory,
    MembershipFactory,
    UserFactory,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# Every role the access rules know, by demo username.
ROLES = (
    "owner",
    "fullcollab",
    "collaborator",  # de-identified export right
    "aggcollab",
    "viewer",  # no export right
    "participant",
    "labadmin",  # no membership
    "outsider",  # owner of an experiment in another lab
)


CODED_MEMBERS = ("collaborator", "aggcollab", "viewer")  # members who see codes


@dataclass
class World:
    lab: Lab
    experiment: Experiment  # multi-participant, video chat
    solo: Experiment
    archived: Experiment
    other: Experiment  # another lab's experiment, owned by "outsider"
    room: Room  # first room of ``experiment``
    participant: Participant  # the participant account's identity, in ``room``
    users: dict = field(default_factory=dict)

    def user(self, role: str):
        return self.users[role]

    def room_ref(self, role: str, room: Room | None = None) -> str:
        """The room as ``role`` addresses it: members below the full export right know rooms
        by code only (``identity.room_code``); everyone else by id."""
        from data_browser.identity import room_code

        room = room or self.room
        if role in CODED_MEMBERS:
            return room_code(room.experiment.public_id, room.public_id)
        return room.public_id


def _ensure_world() -> World:
    """The small demo plus what it lacks for the access rules: a full and an aggregate-only
    collaborator, and another lab's owner with their experiment."""
    User = get_user_model()
    seed("small", 1, log=lambda _line: None)
    lab = Lab.objects.get(slug="demo-lab")
    experiment = Experiment.objects.get(public_id="exp_research_001")
    for username, right in (("fullcollab", ExportRight.FULL), ("aggcollab", ExportRight.AGGREGATE)):
        user = UserFactory(username=username, email=f"{username}@demo.hyperstudy.test", lab=lab)
        MembershipFactory(user=user, experiment=experiment, export_right=right)
    other_lab = LabFactory(slug="other-lab", name="Other Lab")
    outsider = UserFactory(username="outsider", email="outsider@other.test", lab=other_lab)
    other = ExperimentFactory(public_id="exp_other_lab", lab=other_lab, name="Other lab study")
    MembershipFactory(user=outsider, experiment=other, role=Membership.Role.OWNER)
    participant = Profile.objects.get(user__username="participant").participant
    room = RoomParticipant.objects.filter(participant=participant).select_related("room")[0].room
    return World(
        lab=lab,
        experiment=experiment,
        solo=Experiment.objects.get(public_id="exp_solo_rating"),
        archived=Experiment.objects.get(public_id="exp_pilot_2023"),
        other=other,
        room=room,
        participant=participant,
        users={u.username: u for u in User.objects.filter(username__in=ROLES)},
    )


@pytest.fixture(scope="session", autouse=True)
def _media_in_tmp(tmp_path_factory):
    """Files written during the run (demo recordings, exports) go to a directory of the test
    run, never to var/; passwords are hashed cheaply."""
    media = tmp_path_factory.mktemp("media")
    storages = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    # Django's advice for test speed: a cheap hasher. Every account the demo and the
    # factories make gets a password; PBKDF2 would spend a fifth of a second on each.
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with override_settings(STORAGES=storages, MEDIA_ROOT=str(media), PASSWORD_HASHERS=hashers):
        yield media


@pytest.fixture(scope="session")
def django_db_setup(_media_in_tmp, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        _ensure_world()


@pytest.fixture
def world(db) -> World:
    return _ensure_world()


def login_client(client, world: World, role: str):
    client.force_login(world.user(role))
    return client


def show_every_column(world: World, role: str) -> None:
    """The role's record tables show every column, record ids too (as the column chooser
    can): tests that follow records by id see them."""
    from data_browser import datatypes as T
    from data_browser.models import Profile

    every = {dt.key: dt.field_names for dt in T.DATA_TYPES}
    Profile.objects.filter(user=world.user(role)).update(table_columns=every)


# Browser tests: the system Chromium driven by Playwright.

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the
    # tests themselves are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(chromium, live_server, request):
    context = chromium.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()


def browser_login(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login/).*$"))


__all__ = ["CHROMIUM", "PASSWORD", "ROLES", "World", "browser_login", "login_client", "settings"]
