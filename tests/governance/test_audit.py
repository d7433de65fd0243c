"""The audit log: sign-ins recorded, who reads which entries, filters, CSV, and tamper checks."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from data_browser import audit
from data_browser.models import AuditEntry

pytestmark = pytest.mark.django_db

AUDIT = reverse("data_browser:audit")
CSV = reverse("data_browser:audit_csv")


@pytest.fixture
def entries(world):
    """One entry per kind of visibility: this lab's experiment, this lab only, another lab."""
    return {
        "experiment": audit.record(
            "export.started",
            actor=world.user("fullcollab"),
            experiment=world.experiment,
            scope="exp",
            rows=12,
        ),
        "lab": audit.record("user.created", actor=world.user("labadmin"), lab=world.lab),
        "other": audit.record(
            "export.started", actor=world.user("outsider"), experiment=world.other
        ),
        "formula": audit.record(
            "membership.added",
            actor=world.user("owner"),
            experiment=world.experiment,
            scope='=HYPERLINK("http://evil")',
        ),
    }


def shown(client, **params):
    response = client.get(AUDIT, params)
    assert response.status_code == 200
    return {e.pk for e in response.context["page"].object_list}


def test_a_sign_in_is_recorded_with_the_address(client, world):
    client.post(
        reverse("login"),
        {"username": "viewer", "password": "hyperstudy-demo"},
        REMOTE_ADDR="192.0.2.7",
    )
    entry = AuditEntry.objects.filter(action="auth.login").latest("id")
    assert entry.actor == world.user("viewer")
    assert entry.ip_address == "192.0.2.7" and entry.lab == world.lab


def test_owners_read_their_experiments_entries_only(client, world, entries):
    client.force_login(world.user("owner"))
    seen = shown(client)
    assert entries["experiment"].pk in seen and entries["formula"].pk in seen
    assert entries["lab"].pk not in seen and entries["other"].pk not in seen


def test_lab_admins_read_the_labs_entries(client, world, entries):
    client.force_login(world.user("labadmin"))
    seen = shown(client)
    assert {entries["experiment"].pk, entries["lab"].pk} <= seen
    assert entries["other"].pk not in seen


@pytest.mark.parametrize("role", ["fullcollab", "collaborator", "viewer", "participant"])
def test_others_read_nothing(client, world, entries, role):
    client.force_login(world.user(role))
    assert shown(client) == set()


def test_it_filters_by_person_action_and_date(client, world, entries):
    client.force_login(world.user("labadmin"))
    assert shown(client, person="fullcol") == {entries["experiment"].pk}
    assert shown(client, action="user.created") == {entries["lab"].pk}
    today = timezone.localdate()
    assert entries["lab"].pk in shown(client, date_from=today, date_to=today)
    assert shown(client, date_from=today + timedelta(days=1)) == set()
    assert shown(client, date_to=today - timedelta(days=1)) == set()
    bad = client.get(AUDIT, {"date_from": today, "date_to": today - timedelta(days=2)})
    assert bad.status_code == 400 and "start date is after the end date" in bad.content.decode()
    partial = client.get(AUDIT, {"action": "user.created"}, headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode() and "user.created" in partial.content.decode()


def test_details_read_in_words(client, world):
    """A lab admin reads an entry's details as labels and values, not as JSON: moments in
    their zone, lists joined, nothing as a dash, a change as what it changed."""
    audit.record(
        "api_key.created",
        actor=world.user("owner"),
        experiment=world.experiment,
        details={
            "expires_at": "2027-01-31T09:30:00+00:00",
            "scopes": ["data:read", "exports:write"],
            "experiments": [],
            "self_granted": False,
            "before": {"user": "viewer", "role": "collaborator", "export_right": "aggregate"},
            "after": {"user": "viewer", "role": "collaborator", "export_right": "deidentified"},
            "limits": {"rows": 1000},
        },
    )
    client.force_login(world.user("labadmin"))
    html = client.get(AUDIT, {"action": "api_key.created"}).content.decode()
    assert "<dt>Expires at</dt>" in html and '<time datetime="2027-01-31T09:30:00+00:00"' in html
    assert "<dd>data:read, exports:write</dd>" in html
    assert "<dt>Self granted</dt><dd>no</dd>" in html
    assert "<dt>Export right</dt><dd>aggregate \N{RIGHTWARDS ARROW} deidentified</dd>" in html
    assert "<dt>Role</dt>" not in html and "<dt>Before</dt>" not in html  # unchanged, folded
    assert "<dt>Limits</dt><dd><dl" in html and "<dt>Rows</dt><dd>1,000</dd>" in html
    for raw in ("null", "[]", "false", '"data:read"', "{"):
        assert raw not in html.split("<tbody>")[1].split("</tbody>")[0], raw


def test_it_exports_the_filtered_entries_as_neutralised_csv(client, world, entries):
    client.force_login(world.user("owner"))
    response = client.get(CSV, {"person": "owner"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "time", "person", "action"]
    ids = {int(r[0]) for r in rows[1:]}
    assert ids == {entries["formula"].pk}
    formula_row = rows[1]
    assert formula_row[5].startswith("'=")
    assert AuditEntry.objects.filter(action="audit.exported", actor=world.user("owner")).exists()


def test_the_chain_verifies_and_names_an_altered_entry(world, entries, capsys):
    call_command("verify_audit_chain")
    assert "audit chain intact" in capsys.readouterr().out
    target = entries["experiment"]
    AuditEntry.objects.filter(pk=target.pk).update(rows=1)
    with pytest.raises(CommandError, match="broken"):
        call_command("verify_audit_chain")
    err = capsys.readouterr().err
    assert f"entry {target.pk}: content does not match" in err


def test_the_chain_names_a_removed_entry(world, entries, capsys):
    AuditEntry.objects.filter(pk=entries["lab"].pk).delete()
    with pytest.raises(CommandError):
        call_command("verify_audit_chain")
    assert f"entry {entries['other'].pk}: does not follow" in capsys.readouterr().err


def test_no_view_edits_or_deletes_entries(world):
    from django.urls import get_resolver

    def names(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from names(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern), p.name or ""

    audit_routes = [
        (r, n)
        for r, n in names(get_resolver().url_patterns)
        if "audit" in r and not r.startswith("admin/")
    ]
    assert sorted(n for _, n in audit_routes) == ["audit", "audit_csv"]


@pytest.mark.postgres
def test_the_command_exits_non_zero_for_a_shell(transactional_db, world):
    """What a cron job or CI step sees: status 1 and the bad entry named on stderr."""
    import os
    import subprocess
    import sys

    from django.db import connection

    entry = audit.record("user.created", actor=world.user("labadmin"), lab=world.lab)
    AuditEntry.objects.filter(pk=entry.pk).update(scope="tampered")
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit_chain"],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert f"entry {entry.pk}: content does not match" in result.stderr
