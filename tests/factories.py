"""factory_boy factories, beside the demo world of ``conftest``: tests that need a person, an
experiment or records the demo does not have make them here instead of by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory
from django.contrib.auth import get_user_model

from data_browser.models import (
    ChatMessage,
    Event,
    Experiment,
    ExportRight,
    Lab,
    Membership,
    Participant,
    Profile,
    Room,
    RoomParticipant,
)

PASSWORD = "hyperstudy-demo"  # the demo accounts' password (tests.conftest.PASSWORD)
START = datetime(2024, 10, 20, 14, 30, tzinfo=UTC)


class LabFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lab
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Lab {n}")
    slug = factory.Sequence(lambda n: f"lab-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    """A user who can sign in with ``PASSWORD``, in ``lab`` (through their profile)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password(PASSWORD)
    profile = factory.RelatedFactory(
        "tests.factories.ProfileFactory",
        factory_related_name="user",
        lab=factory.SelfAttribute("..lab"),
    )

    class Params:
        lab = factory.SubFactory(LabFactory)


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory)
    lab = factory.SubFactory(LabFactory)


class ExperimentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experiment
        django_get_or_create = ("public_id",)

    public_id = factory.Sequence(lambda n: f"exp_factory_{n:03d}")
    lab = factory.SubFactory(LabFactory)
    name = factory.Sequence(lambda n: f"Factory study {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership
        django_get_or_create = ("user", "experiment")

    user = factory.SubFactory(UserFactory)
    experiment = factory.SubFactory(ExperimentFactory)
    role = Membership.Role.COLLABORATOR
    export_right = ExportRight.FULL


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    public_id = factory.Sequence(lambda n: f"room_factory_{n:04d}")
    experiment = factory.SubFactory(ExperimentFactory)
    started_at = START


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    public_id = factory.Sequence(lambda n: f"participant_factory_{n:04d}")
    display_name = factory.Sequence(lambda n: f"Person {n}")
    email = factory.LazyAttribute(lambda p: f"{p.public_id}@example.test")


class RoomParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoomParticipant

    room = factory.SubFactory(RoomFactory)
    participant = factory.SubFactory(ParticipantFactory)
    role = "participant_a"


class RecordFactory(factory.django.DjangoModelFactory):
    """What every record has: its ids, its room's experiment, and a time that matches its onset
    (``onset`` ms after the room's start)."""

    class Meta:
        abstract = True

    record_id = factory.Sequence(lambda n: f"rec_factory_{n:06d}")
    room = factory.SubFactory(RoomFactory)
    experiment = factory.SelfAttribute("room.experiment")
    participant = factory.SubFactory(ParticipantFactory)
    onset = factory.Sequence(lambda n: n * 10)
    timestamp = factory.LazyAttribute(lambda r: r.room.started_at + timedelta(milliseconds=r.onset))


class EventFactory(RecordFactory):
    class Meta:
        model = Event

    event_type = "rating.change"


class ChatMessageFactory(RecordFactory):
    class Meta:
        model = ChatMessage

    content = "Hello"


def bulk_events(world, n: int, prefix: str = "bulk") -> None:
    """``n`` events of the world's participant in the world's room, 10 ms apart (one
    ``bulk_create``: tests that need volume, such as exports slow enough to watch or cancel)."""
    Event.objects.bulk_create(
        (
            EventFactory.build(
                record_id=f"{prefix}_{i}",
                room=world.room,
                participant=world.participant,
                onset=i * 10,
                content=f"Slider moved by participant {world.participant.public_id}",
                response={"value": i},
            )
            for i in range(n)
        ),
        batch_size=5000,
    )
