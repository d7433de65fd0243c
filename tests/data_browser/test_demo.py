from __future__ import annotations

import pytest
from django.core.management import call_command

from data_browser.models import Event, Experiment, RoomParticipant

pytestmark = pytest.mark.django_db


def test_it_does_not_duplicate_data_when_run_again(world, capsys):
    before = Event.objects.count()
    call_command("seed_demo", "--scale", "small")
    out = capsys.readouterr().out
    assert "nothing new" in out
    assert "participant" in out and "hyperstudy-demo" in out
    assert Event.objects.count() == before


def test_it_builds_the_demo_the_guide_describes(world):
    assert Experiment.objects.get(public_id="exp_pilot_2023").status == "archived"
    assert RoomParticipant.objects.filter(status="disconnected").exists()
    assert Event.objects.filter(onset__lt=0).exists()
    assert world.experiment.has_video_chat and world.experiment.is_multi_participant
    sizes = RoomParticipant.objects.filter(room__experiment=world.experiment).values("room")
    assert {s["room"] for s in sizes}
