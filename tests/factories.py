"""Test data: factory_boy factories beside the demo fixture, and rows made in bulk for tests
that need volume (slow enough exports to watch or cancel).

The factories build rooms, participants and the seven records inside an existing experiment;
``hostile_room`` fills one room with the data real experiment software produces and a
de-identification must survive: record ids and labels built from room and participant ids,
names, e-mail addresses and IP addresses inside ids, labels, free text and payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from data_browser import counts
from data_browser import datatypes as T
from data_browser.models import (
    ChatMessage,
    ComponentSnapshot,
    ContinuousRating,
    Event,
    Experiment,
    ExportRight,
    Lab,
    Membership,
    Participant,
    Profile,
    Recording,
    Room,
    RoomParticipant,
    SparseRating,
    SyncMetric,
)

PASSWORD = "hyperstudy-demo"  # the demo accounts' password


# People and experiments: what the demo world lacks for the access rules (tests.conftest).


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


def event_record(member, rid: str, **extra) -> dict:
    """One event of a room member as the ingest API receives it, 10.5 s into the room."""
    ts = member.room.started_at + timedelta(seconds=10, milliseconds=500)
    record = {
        "id": rid,
        "timestamp": T.iso(ts),
        "sessionId": member.room.public_id,
        "participantId": member.participant.public_id,
        "eventType": "component.complete",
        "componentId": "video_intro",
    }
    record.update(extra)
    return record


def bulk_events(world, n: int, prefix: str = "bulk") -> None:
    """``n`` events of the world's participant in the world's room, 10 ms apart."""
    start = world.room.started_at
    Event.objects.bulk_create(
        (
            Event(
                record_id=f"{prefix}_{i}",
                experiment=world.experiment,
                room=world.room,
                participant=world.participant,
                timestamp=start + timedelta(milliseconds=i * 10),
                onset=i * 10,
                event_type="rating.change",
                content=f"Slider moved by participant {world.participant.public_id}",
                response={"value": i},
            )
            for i in range(n)
        ),
        batch_size=5000,
    )
    counts.recount([world.experiment.pk])  # bulk_create goes around the kept counts


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    public_id = factory.Sequence(lambda n: f"p_factory_{n:04d}")
    display_name = factory.Faker("name")
    email = factory.LazyAttribute(lambda p: f"{p.public_id}@example.org")
    ip_address = factory.Faker("ipv4_public")


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    public_id = factory.Sequence(lambda n: f"room_factory{n:06d}")
    status = Room.Status.COMPLETED
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=2))
    ended_at = factory.LazyAttribute(lambda r: r.started_at + timedelta(minutes=20))


class RoomParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoomParticipant

    room = factory.SubFactory(RoomFactory)
    participant = factory.SubFactory(ParticipantFactory)
    role = "participant"
    status = RoomParticipant.Status.COMPLETED
    joined_at = factory.LazyAttribute(lambda rp: rp.room.started_at)


class RecordFactory(factory.django.DjangoModelFactory):
    """The scope keys of every record: the room's experiment, a time ``onset`` ms into it."""

    class Meta:
        abstract = True

    experiment = factory.LazyAttribute(lambda r: r.room.experiment)
    record_id = factory.Sequence(lambda n: f"rec_factory_{n:06d}")
    onset = factory.Sequence(lambda n: 1000 * n)
    timestamp = factory.LazyAttribute(lambda r: r.room.started_at + timedelta(milliseconds=r.onset))


class EventFactory(RecordFactory):
    class Meta:
        model = Event

    event_type = "component.complete"
    category = "component"


class ChatMessageFactory(RecordFactory):
    class Meta:
        model = ChatMessage

    content = "hello"
    message_type = "text"


class RecordingFactory(RecordFactory):
    class Meta:
        model = Recording

    duration = 60_000
    status = "completed"
    format = "webm"
    resolution = "1280x720"


class ContinuousRatingFactory(RecordFactory):
    class Meta:
        model = ContinuousRating

    component_id = "valence_slider"
    value = 0.5


class SparseRatingFactory(RecordFactory):
    class Meta:
        model = SparseRating

    component_id = "likert"
    value = 3.0


class SyncMetricFactory(RecordFactory):
    class Meta:
        model = SyncMetric

    time_drift = 12.5
    sync_quality = 0.9


class ComponentSnapshotFactory(RecordFactory):
    class Meta:
        model = ComponentSnapshot

    component_id = "video_intro"
    component_type = "ShowVideo"


@dataclass
class HostileRoom:
    """A room whose records name its participants everywhere they can."""

    room: Room
    people: list[Participant]
    secrets: list[str] = field(default_factory=list)  # every identifying value of the room
    name_parts: list[str] = field(default_factory=list)  # first names and surnames


def hostile_room(experiment, room_id: str = "room_hostile9f3k2a") -> HostileRoom:
    """Two participants whose ids, names, e-mail addresses (one built from the name, at a
    domain that is the surname) and IP addresses are placed in the id and label fields, the
    free text and the payloads of all seven data types, in a new room of ``experiment``."""
    room = RoomFactory(experiment=experiment, public_id=room_id)
    alice = ParticipantFactory(
        public_id="p_hostile_alice7qx",
        display_name="Zelinda Quarrington",
        email="zelinda.quarrington@quarrington-lab.example",
        ip_address="203.0.113.77",
    )
    bob = ParticipantFactory(
        public_id="p_hostile_bob3kd",
        display_name="Bartholomew Fenwhistle",
        email="bart@fenwhistle.example",
        ip_address="2001:db8::4f:11",
    )
    # Roles as some experiment software writes them: with the person's id or first name.
    for who, role in ((alice, f"host_{alice.public_id}"), (bob, "guest_Bartholomew")):
        RoomParticipantFactory(room=room, participant=who, role=role)
    core = room_id.removeprefix("room_")
    for i, (me, other) in enumerate(((alice, bob), (bob, alice))):
        first = me.display_name.split()[0]
        tag = f"{core}_{me.public_id}"
        text = (
            f"Hi {other.display_name.split()[0]}, I'm {first}! Mail me at {me.email} "
            f"or {other.email}; my machine is {me.ip_address}; in room {room_id} as {me.public_id}"
        )
        payload = {
            "participant": me.public_id,
            me.public_id: {"name": me.display_name, "email": me.email, "ip": me.ip_address},
            "room": room_id,
            "firstName": first,
        }
        common = {"room": room, "participant": me}
        EventFactory(
            **common,
            record_id=f"evt_{tag}_{i}",
            event_type=f"custom.{first.lower()}.{me.public_id}",
            category=f"cat_{me.public_id}",
            component_type=f"Widget_{first}",
            component_id=f"rating_{me.public_id}_{core}",
            content=text,
            state_name=f"state_{first}_{me.email}",
            participant_role=f"role_{me.ip_address}",
            response=payload,
        )
        ChatMessageFactory(
            **common,
            record_id=f"msg_{tag}_{i}",
            content=text,
            recipient_ids=[other.public_id],
            message_type=f"to:{other.public_id}",
        )
        RecordingFactory(
            **common,
            record_id=f"rec_{tag}_{i}",
            status=f"by_{first}",
            format=f"w_{core}",
            resolution=f"{me.public_id}x{me.ip_address}",
        )
        ContinuousRatingFactory(
            **common, record_id=f"rating_{tag}_c{i}", component_id=f"slider_{me.email}"
        )
        SparseRatingFactory(
            **common,
            record_id=f"rating_{tag}_s{i}",
            component_id=f"likert_{first}_{me.public_id}",
            labels={"min": f"not {first}", "max": me.display_name},
        )
        SyncMetricFactory(**common, record_id=f"sync_{tag}_{i}")
        ComponentSnapshotFactory(
            **common,
            record_id=f"snap_{tag}_{i}",
            component_id=f"consent_{me.public_id}",
            component_type=f"Form_{me.ip_address}",
            state_id=f"state_{room_id}_{first}",
            config={"title": f"Welcome {me.display_name}", "room": room_id},
            variable_snapshot={"firstName": first, "email": me.email, "id": me.public_id},
        )
    secrets = [room_id, core]
    names = []
    for p in (alice, bob):
        secrets += [p.public_id, p.display_name, p.email, p.email.split("@")[1], p.ip_address]
        names += p.display_name.split()
    return HostileRoom(room, [alice, bob], secrets, names)


def finished_export(world, *, file_name: str, stored: str, fingerprint: str, **kw):
    """A finished CSV export of the owner's, of the world's room, its file ``stored`` holding
    two lines (jobs are private to the user who started them)."""
    from django.core.files.base import ContentFile

    from exports.models import ExportJob

    job = ExportJob(
        user=world.user("owner"),
        level="room",
        experiment=world.experiment,
        room=world.room,
        data_types=["events"],
        fmt="csv",
        anonymization="keep",
        fingerprint=fingerprint,
        status="succeeded",
        file_name=file_name,
        **kw,
    )
    job.file.save(stored, ContentFile(b"id\n1\n"), save=False)
    job.save()
    return job


class ExportJobFactory(factory.django.DjangoModelFactory):
    """An export row without a task behind it (a running one holds its place until it ends)."""

    class Meta:
        model = "exports.ExportJob"

    user = factory.SubFactory(UserFactory)
    level = "experiment"
    experiment = factory.SubFactory(ExperimentFactory)
    data_types = ["events"]
    fmt = "csv"
    anonymization = "keep"
    fingerprint = factory.Sequence(lambda n: f"factory-{n}")
    status = "running"
