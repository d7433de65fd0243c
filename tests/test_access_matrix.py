"""The access matrix: every URL pattern of the project x every role → the expected status.

The test walks the project's URL resolver, so a view added without a row in ``MATRIX``
fails ``test_every_url_pattern_has_a_row``: nobody can ship a page, a partial, an export
view or an API endpoint without saying who may reach it.

Excluded by rule (``EXCLUDED``): the Django admin (``admin/``), which is for superusers
only; its own matrix (every registered model's pages x every role and a superuser) is
tests/test_admin_matrix.py.

Reading a row: ``expect`` maps each role to the status it gets. Roles are the demo's:
anonymous; participant (participant account, own sessions only); viewer (collaborator,
no export right); collaborator (de-identified export); fullcollab (full export); owner;
outsider (owner of an experiment in another lab); labadmin (lab admin, no membership).
Objects out of reach are 404, actions not allowed on a visible object 403, pages that
need a session redirect anonymous visitors to the sign-in page (302), the API answers 401
without a key. State-changing rows are sent as POST (each role in its own rolled-back
test); ``test_a_get_never_changes_state`` and ``test_posts_need_the_csrf_token`` cover the
method and CSRF rules for all of them.

API rows send ``X-API-Key`` with a key of the role's user holding every scope (anonymous
sends none); dashboard rows use the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from data_browser import datatypes as T
from data_browser.identity import participant_code, room_code
from data_browser.models import AuditEntry, DataRequest, Membership, RoomParticipant

ROLES = (
    "anonymous",
    "participant",
    "viewer",
    "collaborator",
    "fullcollab",
    "owner",
    "outsider",
    "labadmin",
)
MEMBERS = ("viewer", "collaborator", "fullcollab", "owner")
EXCLUDED = ("admin/",)


def by_role(default: int, **overrides: int) -> dict[str, int]:
    unknown = set(overrides) - set(ROLES)
    assert not unknown, f"unknown roles {unknown}"
    return {role: overrides.get(role, default) for role in ROLES}


# The confirmation page's own POST: destructive rows act (the first POST only asks).
CONFIRM = lambda c: {"confirmed": "1"}  # noqa: E731

# Common shapes of a row.
SIGNED_IN = by_role(200, anonymous=302)
MEMBERS_ONLY = by_role(404, anonymous=302, **dict.fromkeys(MEMBERS, 200))
# The world's room is the participant account's own session: they browse it (others coded).
SESSION_PAGE = {**MEMBERS_ONLY, "participant": 200}
# Participant pages are addressed by public id, which only roles that see identifiers may
# use; everyone else must use the participant's code (tests/data_browser covers that path).
IDENTIFIED_PAGE = {**MEMBERS_ONLY, "viewer": 404, "collaborator": 404}


@dataclass
class Row:
    url: Callable[[Ctx], str]
    expect: dict[str, int]
    method: str = "get"
    data: Callable[[Ctx], dict] | None = None
    api: bool = False
    content_type: str | None = None


class Ctx:
    """The objects a URL points at, made on first use inside the test's transaction."""

    def __init__(self, world: Any, role: str = "owner") -> None:
        self.world = world
        self.exp = world.experiment.public_id
        # The room as the role addresses it: members below the full export right know rooms
        # by code only (a room id is a 404 for them, as a participant id is).
        coded = role in ("viewer", "collaborator")
        room = world.room.public_id
        self.room = room_code(self.exp, room) if coded else room
        self.pid = world.participant.public_id

    @cached_property
    def code(self) -> str:
        return participant_code(self.exp, self.pid)

    @cached_property
    def other_pid(self) -> str:
        rp = RoomParticipant.objects.filter(room=self.world.room).exclude(
            participant=self.world.participant
        )
        return rp.select_related("participant")[0].participant.public_id

    @cached_property
    def own_event(self) -> int:
        """An event of the participant account's own, in the world's room."""
        return (
            T.EVENTS.model.objects.filter(room=self.world.room, participant=self.world.participant)
            .values_list("pk", flat=True)
            .first()
        )

    @cached_property
    def newcomer(self) -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().objects.create_user("matrix-newcomer", "mn@lab.test").username

    @cached_property
    def viewer_membership(self) -> int:
        return Membership.objects.get(
            user=self.world.user("viewer"), experiment=self.world.experiment
        ).pk

    @cached_property
    def data_request(self) -> int:
        return DataRequest.objects.create(
            participant=self.world.participant,
            experiment=self.world.experiment,
            kind=DataRequest.Kind.DELETION,
            requested_by=self.world.user("participant"),
        ).pk

    @cached_property
    def approved_access_request(self) -> int:
        return DataRequest.objects.create(
            participant=self.world.participant,
            experiment=self.world.experiment,
            kind=DataRequest.Kind.ACCESS,
            status=DataRequest.Status.APPROVED,
            requested_by=self.world.user("participant"),
        ).pk

    @cached_property
    def collaborator_key(self) -> int:
        from data_browser.api.keys import create_key

        key, _raw = create_key(self.world.user("collaborator"), name="m", scopes=["read:events"])
        return key.pk

    @cached_property
    def owner_job(self) -> Any:
        """A finished export of the owner's (jobs are private to the user who started them)."""
        from tests.factories import finished_export

        return finished_export(
            self.world, file_name="matrix.csv", stored="matrix.csv", fingerprint="matrix"
        )

    @cached_property
    def signed_export_token(self) -> str:
        from exports.services import signed_download_url

        return signed_download_url(self.owner_job).rstrip("/").rsplit("/", 1)[-1]

    @cached_property
    def media_token(self) -> str:
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        from data_browser.media import signed_path
        from data_browser.models import Recording

        rec = Recording.objects.filter(room=self.world.room).exclude(file="").first()
        if not default_storage.exists(rec.file.name):
            default_storage.save(rec.file.name, ContentFile(b"media"))
        return signed_path(rec.file.name).rstrip("/").rsplit("/", 1)[-1]

    @cached_property
    def set_password_args(self) -> tuple[str, str]:
        user = self.world.user("viewer")
        return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)

    def key_for(self, role: str) -> str | None:
        if role == "anonymous":
            return None
        from data_browser.api.keys import create_key

        _key, raw = create_key(self.world.user(role), name=f"matrix {role}", scopes=T.ALL_SCOPES)
        return raw


def _ingest_body(ctx: Ctx) -> list:
    return [
        {
            "id": "event_matrix_1",
            "timestamp": "2024-10-20T14:40:00.000Z",
            "sessionId": ctx.room,
            "participantId": ctx.pid,
            "eventType": "matrix.check",
        }
    ]


# A participant account has no API key; its session cookie does not open the API (401).
# Reading records is exporting: the viewer (no export right) gets 403 naming the right.
API_CHECK_ACCESS = by_role(404, anonymous=401, participant=401, **dict.fromkeys(MEMBERS, 200))
API_DATA = {**API_CHECK_ACCESS, "viewer": 403}
API_OTHERS = by_role(404, anonymous=401, participant=401)
# Owners and full collaborators write; the outsider's key may write (to its own lab), so the
# batch is answered with per-record "unknown room" errors (200) that reveal nothing.
API_INGEST = by_role(403, anonymous=401, participant=401, fullcollab=200, owner=200, outsider=200)

_e = "/e/{c.exp}/"
_r = _e + "r/{c.room}/"
_p = _r + "p/{c.pid}/"


def u(template: str) -> Callable[[Ctx], str]:
    return lambda c: template.format(c=c)


MATRIX: dict[str, Row] = {
    # Sign-in and sign-out.
    "login": Row(u("/login/"), by_role(200)),
    "logout": Row(u("/logout/"), by_role(302), method="post"),
    # Probes: the same answer for everyone; no worker runs here, so not ready (503).
    "healthz": Row(u("/healthz"), by_role(200)),
    "readyz": Row(u("/readyz"), by_role(503)),
    "metrics": Row(u("/metrics"), by_role(404)),  # off unless METRICS_ENABLED
    # Browse.
    "data_browser:experiments": Row(u("/"), SIGNED_IN),
    "data_browser:experiment": Row(u(_e), SESSION_PAGE),
    "data_browser:experiment_data": Row(u(_e + "data/"), SESSION_PAGE),
    "data_browser:experiment_overview": Row(u(_e + "overview/"), SESSION_PAGE),
    "data_browser:experiment_quality": Row(u(_e + "quality/"), SESSION_PAGE),
    # One record expanded (a row of a record table): the participant account opens its own.
    "data_browser:record_detail": Row(u(_e + "records/events/{c.own_event}/"), SESSION_PAGE),
    "data_browser:room": Row(u(_r), SESSION_PAGE),
    "data_browser:room_data": Row(u(_r + "data/"), SESSION_PAGE),
    "data_browser:room_quality": Row(u(_r + "quality/"), SESSION_PAGE),
    "data_browser:room_plots": Row(u(_r + "plots/"), SESSION_PAGE),
    "data_browser:participant": Row(u(_p), IDENTIFIED_PAGE),
    "data_browser:participant_quality": Row(u(_p + "quality/"), IDENTIFIED_PAGE),
    "data_browser:participant_plots": Row(u(_p + "plots/"), IDENTIFIED_PAGE),
    "data_browser:media": Row(u("/media/{c.media_token}/"), by_role(200)),
    # API keys page and docs.
    "data_browser:api_keys": Row(u("/keys/"), SIGNED_IN),
    "data_browser:api_key_detail": Row(
        u("/keys/{c.collaborator_key}/"),
        by_role(404, anonymous=302, collaborator=200, labadmin=200),
    ),
    "data_browser:api_key_edit": Row(
        u("/keys/{c.collaborator_key}/edit/"), by_role(404, anonymous=302, collaborator=200)
    ),
    "data_browser:api_key_revoke": Row(
        u("/keys/{c.collaborator_key}/revoke/"),
        by_role(404, anonymous=302, collaborator=302, labadmin=302),
        method="post",
        data=CONFIRM,
    ),
    "data_browser:api_docs": Row(u("/keys/docs/"), SIGNED_IN),
    # The reader's own preferences (time zone).
    "data_browser:preferences": Row(u("/preferences/"), SIGNED_IN),
    # Governance: access pages.
    "data_browser:access": Row(u("/access/"), by_role(200, anonymous=302, labadmin=302)),
    "data_browser:experiment_access": Row(
        u("/access/{c.exp}/"),
        by_role(404, anonymous=302, labadmin=200, **dict.fromkeys(MEMBERS, 200)),
    ),
    "data_browser:member_add": Row(
        u("/access/{c.exp}/members/"),
        by_role(
            404,
            anonymous=302,
            viewer=403,
            collaborator=403,
            fullcollab=403,
            owner=302,
            labadmin=302,
        ),
        method="post",
        data=lambda c: {
            "identifier": c.newcomer,
            "role": "collaborator",
            "export_right": "aggregate",
        },
    ),
    "data_browser:member_change": Row(
        u("/access/{c.exp}/members/{c.viewer_membership}/"),
        by_role(
            404,
            anonymous=302,
            viewer=403,
            collaborator=403,
            fullcollab=403,
            owner=302,
            labadmin=302,
        ),
        method="post",
        data=lambda c: {"role": "collaborator", "export_right": "full"},
    ),
    "data_browser:member_remove": Row(
        u("/access/{c.exp}/members/{c.viewer_membership}/remove/"),
        by_role(
            404,
            anonymous=302,
            viewer=403,
            collaborator=403,
            fullcollab=403,
            owner=302,
            labadmin=302,
        ),
        method="post",
        data=CONFIRM,
    ),
    "data_browser:ownership": Row(
        u("/access/{c.exp}/ownership/"),
        by_role(
            404,
            anonymous=302,
            viewer=403,
            collaborator=403,
            fullcollab=403,
            owner=302,
            labadmin=302,
        ),
        method="post",
        data=lambda c: {"identifier": "fullcollab", "mode": "share"},
    ),
    "data_browser:retention": Row(
        u("/access/{c.exp}/retention/"),
        by_role(
            404,
            anonymous=302,
            labadmin=403,
            owner=302,
            **{r: 403 for r in ("viewer", "collaborator", "fullcollab")},
        ),
        method="post",
        data=lambda c: {"retention_until": "2099-01-01"},
    ),
    "data_browser:experiment_status": Row(
        u("/access/{c.exp}/status/"),
        by_role(
            404,
            anonymous=302,
            labadmin=403,
            owner=302,
            **{r: 403 for r in ("viewer", "collaborator", "fullcollab")},
        ),
        method="post",
        data=lambda c: {"action": "archive"},
    ),
    "data_browser:experiment_requests": Row(
        u("/access/{c.exp}/requests/"),
        by_role(
            404,
            anonymous=302,
            labadmin=403,
            owner=200,
            **{r: 403 for r in ("viewer", "collaborator", "fullcollab")},
        ),
    ),
    "data_browser:request_decide": Row(
        u("/access/{c.exp}/requests/{c.data_request}/"),
        by_role(
            404,
            anonymous=302,
            labadmin=403,
            owner=302,
            **{r: 403 for r in ("viewer", "collaborator", "fullcollab")},
        ),
        method="post",
        data=lambda c: {"decision": "decline"},
    ),
    "data_browser:manage_data": Row(
        u("/access/{c.exp}/data/"),
        by_role(
            404,
            anonymous=302,
            labadmin=403,
            owner=200,
            **{r: 403 for r in ("viewer", "collaborator", "fullcollab")},
        ),
    ),
    "data_browser:delete_experiment_data": Row(
        u("/access/{c.exp}/data/delete/"),
        by_role(
            404,
            anonymous=302,
            labadmin=403,
            owner=302,
            **{r: 403 for r in ("viewer", "collaborator", "fullcollab")},
        ),
        method="post",
        data=CONFIRM,
    ),
    "data_browser:delete_room": Row(
        u("/access/{c.exp}/rooms/{c.room}/delete/"),
        by_role(
            404,
            anonymous=302,
            labadmin=403,
            owner=302,
            **{r: 403 for r in ("viewer", "collaborator", "fullcollab")},
        ),
        method="post",
        data=CONFIRM,
    ),
    "data_browser:delete_participant": Row(
        u("/access/{c.exp}/participants/{c.other_pid}/delete/"),
        by_role(
            404,
            anonymous=302,
            labadmin=403,
            owner=302,
            **{r: 403 for r in ("viewer", "collaborator", "fullcollab")},
        ),
        method="post",
        data=CONFIRM,
    ),
    # Governance: the lab.
    "data_browser:lab_access": Row(u("/lab/"), by_role(403, anonymous=302, labadmin=200)),
    "data_browser:lab_user_create": Row(
        u("/lab/users/new/"), by_role(403, anonymous=302, labadmin=200)
    ),
    "data_browser:lab_user_active": Row(
        u("/lab/users/{c.world.users[viewer].pk}/active/"),
        by_role(403, anonymous=302, labadmin=302),
        method="post",
        data=lambda c: {"active": "0"},
    ),
    # Nothing to unlock for the viewer: the lab admin's answer says so (400).
    "data_browser:lab_user_unlock": Row(
        u("/lab/users/{c.world.users[viewer].pk}/unlock/"),
        by_role(403, anonymous=302, labadmin=400),
        method="post",
    ),
    "data_browser:lab_user_password_reset": Row(
        u("/lab/users/{c.world.users[viewer].pk}/password-reset/"),
        by_role(403, anonymous=302, labadmin=302),
        method="post",
    ),
    "data_browser:lab_key_revoke": Row(
        u("/lab/keys/{c.collaborator_key}/revoke/"),
        by_role(403, anonymous=302, labadmin=302),
        method="post",
        data=CONFIRM,
    ),
    "data_browser:set_password": Row(
        lambda c: "/set-password/{}/{}/".format(*c.set_password_args), by_role(302)
    ),
    # Governance: audit log and participants' own data.
    "data_browser:audit": Row(u("/audit/"), SIGNED_IN),
    "data_browser:audit_csv": Row(u("/audit/export.csv"), SIGNED_IN),
    "data_browser:my_data": Row(u("/my-data/"), by_role(404, anonymous=302, participant=200)),
    "data_browser:my_data_request": Row(
        u("/my-data/requests/"),
        by_role(404, anonymous=302, participant=302),
        method="post",
        data=lambda c: {"experiment": c.exp, "kind": "access"},
    ),
    "data_browser:my_data_export": Row(
        u("/my-data/requests/{c.approved_access_request}/export/"),
        by_role(404, anonymous=302, participant=302),
        method="post",
    ),
    # Exports.
    "exports:list": Row(u("/exports/"), SIGNED_IN),
    "exports:new": Row(
        u("/exports/new/?level=room&experiment={c.exp}&room={c.room}"),
        by_role(
            404,
            anonymous=302,
            participant=403,
            viewer=403,
            collaborator=200,
            fullcollab=200,
            owner=200,
        ),
    ),
    "exports:detail": Row(
        u("/exports/{c.owner_job.public_id}/"), by_role(404, anonymous=302, owner=200)
    ),
    "exports:cancel": Row(
        u("/exports/{c.owner_job.public_id}/cancel/"),
        by_role(404, anonymous=302, owner=302),
        method="post",
    ),
    "exports:delete": Row(
        u("/exports/{c.owner_job.public_id}/delete/"),
        by_role(404, anonymous=302, owner=302),
        method="post",
        data=CONFIRM,
    ),
    "exports:download": Row(
        u("/exports/{c.owner_job.public_id}/download/"), by_role(404, anonymous=302, owner=200)
    ),
    "exports:signed_download": Row(u("/exports/signed/{c.signed_export_token}/"), by_role(200)),
    # The REST API (X-API-Key).
    "api_v3:openapi-json": Row(u("/api/v3/openapi.json"), by_role(200), api=True),
    "api_v3:health": Row(u("/api/v3/health"), by_role(200), api=True),
    # Django Ninja's root route: no page there (the docs are on the dashboard).
    "api_v3:api-root": Row(u("/api/v3/"), by_role(404), api=True),
    "api_unknown": Row(u("/api/v2/nothing"), by_role(404), api=True),
    **{
        f"api_v3:get_{dt.api_name.replace('/', '_')}": Row(
            u(f"/api/v3/data/{dt.api_name}/experiment/{{c.exp}}"), API_DATA, api=True
        )
        for dt in T.DATA_TYPES
    },
    "api_v3:check_access": Row(
        u("/api/v3/data/check-access/experiment/{c.exp}"), API_CHECK_ACCESS, api=True
    ),
    "api_v3:openapi_yaml": Row(u("/api/v3/openapi.yaml"), by_role(200), api=True),
    # Listings need the row-level export right: view-only members get 403.
    **{
        f"api_v3:get_{name}": Row(
            u(f"/api/v3/data/{name}/experiment/{{c.exp}}"),
            by_role(
                404,
                anonymous=401,
                participant=401,
                owner=200,
                fullcollab=200,
                collaborator=200,
                viewer=403,
            ),
            api=True,
        )
        for name in ("rooms", "participants")
    },
    "api_v3:unknown_data_type": Row(
        u("/api/v3/data/nonsense/experiment/{c.exp}"),
        by_role(400, anonymous=401, participant=401),
        api=True,
    ),
    **{
        f"api_v3:ingest_{dt.api_name.replace('/', '_')}": Row(
            u(f"/api/v3/ingest/{dt.api_name}"),
            API_INGEST,
            method="post",
            data=_ingest_body,
            api=True,
            content_type="application/json",
        )
        for dt in T.DATA_TYPES
    },
    "api_v3:unknown_ingest_type": Row(
        u("/api/v3/ingest/nonsense"),
        by_role(400, anonymous=401, participant=401),
        method="post",
        data=_ingest_body,
        api=True,
        content_type="application/json",
    ),
    "api_v3:start_export": Row(
        u("/api/v3/exports"),
        by_role(
            404,
            anonymous=401,
            participant=401,
            viewer=403,
            collaborator=403,
            fullcollab=202,
            owner=202,
        ),
        method="post",
        data=lambda c: {"level": "room", "experimentId": c.exp, "roomId": c.room},
        api=True,
        content_type="application/json",
    ),
    "api_v3:get_export": Row(
        u("/api/v3/exports/{c.owner_job.public_id}"),
        API_OTHERS | {"owner": 200},
        api=True,
    ),
    "api_v3:delete_export": Row(
        u("/api/v3/exports/{c.owner_job.public_id}"),
        API_OTHERS | {"owner": 204},
        method="delete",
        api=True,
    ),
}


def _walk(patterns: list, prefix: str = "", namespace: str = ""):
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            ns = (
                f"{namespace}:{p.namespace}"
                if namespace and p.namespace
                else (p.namespace or namespace)
            )
            yield from _walk(p.url_patterns, route, ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or route)
            yield route, name


def project_patterns() -> list[tuple[str, str]]:
    return [
        (route, name)
        for route, name in _walk(get_resolver().url_patterns)
        if not route.startswith(EXCLUDED)
    ]


def test_every_url_pattern_has_a_row():
    missing = [f"{name} ({route})" for route, name in project_patterns() if name not in MATRIX]
    assert not missing, "URL patterns without a row in the access matrix:\n" + "\n".join(missing)


def test_every_row_is_a_url_pattern():
    names = {name for _, name in project_patterns()}
    assert not set(MATRIX) - names, f"rows for patterns that no longer exist: {set(MATRIX) - names}"


def test_every_row_names_every_role():
    for name, row in MATRIX.items():
        assert set(row.expect) == set(ROLES), name


@pytest.fixture
def matrix_media(settings, tmp_path):
    """Deleting rows remove files; keep them away from other tests' storage."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path)
    cache.clear()
    yield
    cache.clear()


def _request(client: Client, ctx: Ctx, row: Row, role: str, method: str | None = None):
    method = method or row.method
    headers = {}
    if row.api and role == "participant":
        client.force_login(ctx.world.user(role))
    elif row.api:
        key = ctx.key_for(role)
        if key is not None:
            headers["X-API-Key"] = key
    elif role != "anonymous":
        client.force_login(ctx.world.user(role))
    data = row.data(ctx) if row.data else None
    kwargs: dict[str, Any] = {"headers": headers}
    if method != "get" and data is not None:
        if row.content_type == "application/json":
            kwargs["content_type"] = "application/json"
        kwargs["data"] = data
    return getattr(client, method)(row.url(ctx), **kwargs)


CASES = [(name, role) for name in MATRIX for role in ROLES]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "role"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_access_matrix(client, world, matrix_media, name, role, eager_exports):
    row = MATRIX[name]
    ctx = Ctx(world, role)
    response = _request(client, ctx, row, role)
    if os.environ.get("MATRIX_OBSERVE"):
        print(f"\nOBSERVED {name} {role} {response.status_code}")
        return
    assert response.status_code == row.expect[role], (
        f"{row.method.upper()} {row.url(ctx)} as {role}: expected {row.expect[role]}, "
        f"got {response.status_code}"
    )


POST_ROWS = [n for n, r in MATRIX.items() if r.method != "get" and not r.api and n != "logout"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", POST_ROWS)
@pytest.mark.parametrize("role", ["owner", "labadmin", "participant"])
def test_a_get_never_changes_state(client, world, matrix_media, name, role, eager_exports):
    row = MATRIX[name]
    ctx = Ctx(world, role)
    row.url(ctx)  # make the objects first, so only the GET is measured
    before = _state()
    response = _request(client, ctx, row, role, method="get")
    assert response.status_code in (200, 302, 403, 404, 405), response.status_code
    assert _state() == before


def _state() -> tuple:
    from exports.models import ExportJob

    return (
        AuditEntry.objects.exclude(action="auth.login").count(),
        tuple(dt.model.objects.count() for dt in T.DATA_TYPES),
        tuple(Membership.objects.order_by("pk").values_list("pk", "role", "export_right")),
        tuple(DataRequest.objects.order_by("pk").values_list("pk", "status")),
        tuple(ExportJob.objects.order_by("pk").values_list("pk", "status", "cancel_requested")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", POST_ROWS)
def test_posts_need_the_csrf_token(world, matrix_media, name, eager_exports):
    row = MATRIX[name]
    ctx = Ctx(world)
    client = Client(enforce_csrf_checks=True)
    role = (
        "participant"
        if name.startswith("data_browser:my_data")
        else ("labadmin" if name.startswith("data_browser:lab_") else "owner")
    )
    client.force_login(world.user(role))
    row.url(ctx)
    before = _state()
    response = _request(client, ctx, row, role)
    assert response.status_code == 403
    assert _state() == before


@pytest.fixture
def eager_exports():
    """Exports started by a row run in-process, so no broker is needed."""
    from hyperstudy_dash.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
