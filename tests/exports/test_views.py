"""The dialog, the progress modal, downloads and My exports, role by role."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from data_browser.models import AuditEntry
from exports import services
from exports.models import ExportJob, Status

from .conftest import content

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def room_ref(world, role) -> str:
    return world.room_ref(role)


def post_export(client, world, role, **data):
    client.force_login(world.user(role))
    payload = {
        "level": "room",
        "experiment": world.experiment.public_id,
        "room": room_ref(world, role),
        "fmt": "zip",
        "anonymization": "keep",
        "data_types": ["events", "chat"],
        **data,
    }
    return client.post(reverse("exports:new"), payload)


# Expected answer to a room export POST, per role and mode.
RULES = {
    "owner": {"keep": 302, "remove": 302, "aggregate": 302},
    "fullcollab": {"keep": 302, "remove": 302, "aggregate": 302},
    "collaborator": {"keep": 403, "remove": 302, "aggregate": 302},
    "aggcollab": {"keep": 403, "remove": 403, "aggregate": 302},
    "viewer": {"keep": 403, "remove": 403, "aggregate": 403},
    "participant": {"keep": 403, "remove": 403, "aggregate": 403},
    "labadmin": {"keep": 404, "remove": 404, "aggregate": 404},
    "outsider": {"keep": 404, "remove": 404, "aggregate": 404},
}


@pytest.mark.parametrize("role", list(RULES))
@pytest.mark.parametrize("mode", ["keep", "remove", "aggregate"])
def test_it_lets_each_role_export_only_as_far_as_its_right(client, world, role, mode):
    response = post_export(client, world, role, anonymization=mode)
    assert response.status_code == RULES[role][mode]
    jobs = ExportJob.objects.filter(user=world.user(role))
    assert jobs.count() == (1 if response.status_code == 302 else 0)
    if response.status_code == 403:
        assert b"export right" in response.content or b"may not" in response.content


def test_it_answers_400_for_an_unknown_format_or_mode(client, world):
    response = post_export(client, world, "owner", fmt="xlsx")
    assert response.status_code == 400
    assert b"Unknown format" in response.content
    response = post_export(client, world, "owner", anonymization="scramble")
    assert response.status_code == 400
    assert b"Unknown anonymization" in response.content
    response = post_export(client, world, "owner", data_types=["nope"])
    assert response.status_code == 400
    assert not ExportJob.objects.exists()


def test_it_answers_404_for_a_room_of_another_experiment(client, world):
    other_room = world.solo.rooms.first()
    response = post_export(client, world, "owner", room=other_room.public_id)
    assert response.status_code == 404
    assert not ExportJob.objects.exists()


def test_the_dialog_offers_only_the_modes_of_the_users_right(client, world):
    client.force_login(world.user("collaborator"))
    url = reverse("exports:new") + f"?level=room&experiment={world.experiment.public_id}"
    url += f"&room={room_ref(world, 'collaborator')}"
    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="modal-backdrop"' in html and "<html" not in html
    assert 'value="remove"' in html and 'value="aggregate"' in html
    assert 'value="keep"' not in html
    assert "include_media" not in html
    # Each offered mode says what it does (the minimum group size from the settings).
    assert "names, e-mail and IP addresses removed" in html
    assert f"fewer than {settings.AGGREGATE_MIN_GROUP} participants is left out" in html
    assert "as recorded: the file is personal data" not in html
    full = client.get(url)
    assert "<html" in full.content.decode() and 'value="remove"' in full.content.decode()


def test_the_dialog_shows_codes_to_users_who_do_not_see_identifiers(client, world):
    from data_browser.identity import participant_code

    code = participant_code(world.experiment.public_id, world.participant.public_id)
    client.force_login(world.user("collaborator"))
    url = (
        reverse("exports:new")
        + f"?level=type&experiment={world.experiment.public_id}"
        + f"&room={room_ref(world, 'collaborator')}&participant={code}&type=events"
    )
    html = client.get(url).content.decode()
    assert code in html
    assert world.participant.public_id not in html


def test_posting_with_htmx_returns_the_polling_progress_modal(client, world):
    client.force_login(world.user("owner"))
    response = client.post(
        reverse("exports:new"),
        {
            "level": "room",
            "experiment": world.experiment.public_id,
            "room": world.room.public_id,
            "fmt": "zip",
            "anonymization": "keep",
            "data_types": ["events"],
        },
        **HTMX,
    )
    html = response.content.decode()
    job = ExportJob.objects.get()
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in html
    assert f"/exports/{job.public_id}/?poll=1" in html
    assert "<progress" in html and "Cancel" in html


def test_identical_running_exports_are_reused(client, world):
    post_export(client, world, "owner")
    post_export(client, world, "owner")
    assert ExportJob.objects.count() == 1
    post_export(client, world, "owner", fmt="csv")
    assert ExportJob.objects.count() == 2


def test_polling_a_finished_job_stops_with_286_and_starts_the_download(client, world, export):
    job = export(level="room", room_id=world.room.public_id, data_types=["chat"], fmt="csv")
    client.force_login(world.user("owner"))
    url = reverse("exports:detail", args=[job.public_id]) + "?poll=1"
    response = client.get(url, **HTMX)
    assert response.status_code == 286
    html = response.content.decode()
    assert reverse("exports:download", args=[job.public_id]) in html
    assert ".click()" in html
    assert "hx-trigger" not in html


def test_a_running_job_shows_its_progress(client, world):
    job = services.start_export(
        world.user("owner"),
        level="room",
        experiment_id=world.experiment.public_id,
        room_id=world.room.public_id,
    )
    ExportJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING, rows_done=50, rows_expected=200, message="Writing chat.csv…"
    )
    client.force_login(world.user("owner"))
    response = client.get(reverse("exports:detail", args=[job.public_id]) + "?poll=1", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="25"' in html and "50 of 200 rows" in html and "Writing chat.csv" in html
    page = client.get(reverse("exports:detail", args=[job.public_id]))
    assert 'http-equiv="refresh"' in page.content.decode()


def test_cancel_stops_a_job_and_is_audited(client, world):
    job = services.start_export(
        world.user("owner"),
        level="room",
        experiment_id=world.experiment.public_id,
        room_id=world.room.public_id,
    )
    client.force_login(world.user("owner"))
    response = client.post(reverse("exports:cancel", args=[job.public_id]), **HTMX)
    job.refresh_from_db()
    assert response.status_code == 286
    assert job.status == Status.CANCELLED and job.cancel_requested
    assert "Cancelled" in response.content.decode()
    assert AuditEntry.objects.filter(action="export.cancelled").exists()


def test_a_running_job_cancelled_stops_between_chunks(world, eager):
    from exports import tasks

    job = services.start_export(
        world.user("owner"),
        level="room",
        experiment_id=world.experiment.public_id,
        room_id=world.room.public_id,
    )
    ExportJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING, attempts=1, cancel_requested=True
    )
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and not job.file


def test_only_the_owner_of_a_job_can_see_download_cancel_or_delete_it(client, world, export):
    job = export(level="room", room_id=world.room.public_id, data_types=["chat"], fmt="csv")
    client.force_login(world.user("fullcollab"))
    for name, method in (
        ("detail", "get"),
        ("download", "get"),
        ("cancel", "post"),
        ("delete", "post"),
    ):
        response = getattr(client, method)(reverse(f"exports:{name}", args=[job.public_id]))
        assert response.status_code == 404, name
    assert ExportJob.objects.filter(pk=job.pk).exists()
    client.force_login(world.user("owner"))
    response = client.get(reverse("exports:download", args=[job.public_id]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content(job)
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and job.file_name in disposition
    entry = AuditEntry.objects.filter(action="export.downloaded").latest("id")
    assert entry.details["sha256"] == job.sha256 and entry.rows == job.rows_done


def test_signed_links_work_without_a_session_and_expire(client, world, export, settings):
    job = export(level="room", room_id=world.room.public_id, data_types=["chat"], fmt="csv")
    url = services.signed_download_url(job)
    response = client.get(url)
    assert response.status_code == 200
    assert client.get(url[:-4] + "xyz/").status_code == 404
    settings.SIGNED_URL_MAX_AGE = -1
    assert client.get(url).status_code == 404


def test_my_exports_lists_own_jobs_and_deletes_them(client, world, export):
    from django.core.files.storage import default_storage

    job = export(level="room", room_id=world.room.public_id, data_types=["chat"], fmt="csv")
    other = export("fullcollab", level="room", room_id=world.room.public_id, fmt="zip")
    client.force_login(world.user("owner"))
    html = client.get(reverse("exports:list")).content.decode()
    assert str(job.public_id) in html and str(other.public_id) not in html
    assert reverse("exports:download", args=[job.public_id]) in html
    assert "Ready" in html
    name = job.file.name
    first = client.post(reverse("exports:delete", args=[job.public_id]))
    assert first.status_code == 200  # the confirmation: what goes, and nothing gone yet
    assert dict(first.context["confirm"].rows) == {
        "Export": 1,
        "Finished file": 1,
        "Pieces prepared so far": 0,
    }
    assert ">Delete the export</button>" in first.text and job.file_name in first.text
    assert ExportJob.objects.filter(pk=job.pk).exists() and default_storage.exists(name)
    assert not AuditEntry.objects.filter(action="export.deleted").exists()
    response = client.post(reverse("exports:delete", args=[job.public_id]), {"confirmed": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("exports:list")
    assert not ExportJob.objects.filter(pk=job.pk).exists()
    assert not default_storage.exists(name)
    assert AuditEntry.objects.filter(action="export.deleted").exists()


def test_deleting_data_removes_the_exports_that_contain_it(world, export):
    room_job = export(level="room", room_id=world.room.public_id, data_types=["chat"], fmt="csv")
    exp_job = export(level="experiment", data_types=["chat"], fmt="csv")
    solo_job = export(
        experiment_id=world.solo.public_id, level="experiment", fmt="csv", data_types=["events"]
    )
    removed = services.delete_exports_containing(participant=world.participant)
    assert removed == 2
    assert set(ExportJob.objects.values_list("pk", flat=True)) == {solo_job.pk}
    assert room_job and exp_job


def test_export_button_renders_per_right(world):
    template = Template(
        "{% load exports_tags %}{% export_button level experiment room=room participant=p %}"
    )

    def render(role, level):
        request = RequestFactory().get("/")
        request.user = world.user(role)
        ctx = Context(
            {
                "request": request,
                "experiment": world.experiment,
                "level": level,
                "room": world.room.public_id,
                "p": world.participant.public_id,
            }
        )
        return template.render(ctx)

    html = render("owner", "participant")
    assert 'hx-get="/exports/new/?' in html and 'hx-target="#modal"' in html and "href=" in html
    assert render("viewer", "room") == ""
    assert render("aggcollab", "participant") == ""
    assert "export-button" in render("aggcollab", "room")
