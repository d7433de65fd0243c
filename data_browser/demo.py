"""Deterministic demo data, loaded through the ingest service.

``seed(scale, seed)`` creates a lab, its accounts and experiments, rooms of
one to four participants and realistic records of all seven types. Running it
again adds nothing: objects are looked up before they are created and records
go through the idempotent ingest.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from . import datatypes as T
from .ingest import ingest
from .models import (
    Experiment,
    ExportRight,
    Lab,
    Membership,
    Participant,
    Profile,
    Recording,
    Room,
    RoomParticipant,
)


@dataclass(frozen=True)
class Scale:
    rooms_multi: int
    rooms_single: int
    events_per_participant: int
    rating_seconds: int  # length of the continuous rating component
    sync_seconds: int


SCALES = {
    "small": Scale(
        rooms_multi=3, rooms_single=3, events_per_participant=60, rating_seconds=20, sync_seconds=30
    ),
    "medium": Scale(
        rooms_multi=40,
        rooms_single=20,
        events_per_participant=400,
        rating_seconds=60,
        sync_seconds=120,
    ),
    # 250 rooms x 4 participants x 1005 events: over 1,000,000 events in one experiment, with
    # the disconnected participant's shorter session.
    "large": Scale(
        rooms_multi=250,
        rooms_single=20,
        events_per_participant=1005,
        rating_seconds=60,
        sync_seconds=300,
    ),
    # Four times the large one (over 4,000,000 events): what the benchmarks compare the large
    # demo with, to show that reads do not grow with the experiment.
    "xlarge": Scale(
        rooms_multi=1000,
        rooms_single=80,
        events_per_participant=1005,
        rating_seconds=60,
        sync_seconds=300,
    ),
}

FIRST = [
    "Alex",
    "Sam",
    "Robin",
    "Kim",
    "Jordan",
    "Taylor",
    "Maria",
    "Lee",
    "Noor",
    "Ivan",
    "Chen",
    "Fatima",
    "Lucas",
    "Aisha",
    "Mateo",
    "Yuki",
]
LAST = [
    "Nguyen",
    "Smith",
    "Garcia",
    "Okafor",
    "Müller",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Haddad",
    "Silva",
    "Novak",
    "Berg",
]
CHAT_LINES = [
    "Hello, everyone!",
    "Can you hear me?",
    "I think the video lagged a bit.",
    "That scene was intense.",
    "Agreed, very tense.",
    "Ready when you are.",
    "My camera froze for a second",
    "What did you rate the last clip?",
    "ok",
    "Nice!",
]
ACCOUNTS = {
    "labadmin": "Lab administrator: manages access, sees data only through a membership",
    "owner": "Owner of the demo experiments",
    "collaborator": "Collaborator with de-identified export",
    "viewer": "Collaborator who may view but not export",
    "participant": "A participant, linked to one participant identity",
}
MULTI_ID = "exp_research_001"
SINGLE_ID = "exp_solo_rating"
ARCHIVED_ID = "exp_pilot_2023"
ROLES = ["participant_a", "participant_b", "participant_c", "participant_d"]


def _hex(rng: random.Random, n: int = 6) -> str:
    return f"{rng.getrandbits(n * 8):0{n * 2}x}"


def _iso(t: datetime) -> str:
    return T.iso(t)


def seed(scale: str = "small", seed: int = 1, log: Callable[[str], None] = print) -> dict:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    sc = SCALES[scale]
    lab, users = _accounts()
    base = datetime(2024, 10, 20, 14, 30, tzinfo=UTC)
    multi = _experiment(lab, MULTI_ID, "Emotion synchrony study", multi=True, video=True)
    single = _experiment(lab, SINGLE_ID, "Solo film rating", multi=False, video=False)
    archived = _experiment(
        lab, ARCHIVED_ID, "Pilot 2023", multi=False, video=False, status=Experiment.Status.ACTIVE
    )
    for exp in (multi, single, archived):
        Membership.objects.get_or_create(
            user=users["owner"],
            experiment=exp,
            defaults={"role": Membership.Role.OWNER, "export_right": ExportRight.FULL},
        )
    for name, right in (("collaborator", ExportRight.DEIDENTIFIED), ("viewer", ExportRight.NONE)):
        Membership.objects.get_or_create(
            user=users[name],
            experiment=multi,
            defaults={"role": Membership.Role.COLLABORATOR, "export_right": right},
        )

    counts: dict[str, int] = {}
    plan = [
        (multi, sc.rooms_multi, (2, 4)),
        (single, sc.rooms_single, (1, 1)),
        (archived, 2, (1, 1)),
    ]
    participant_account_linked = Profile.objects.filter(
        user=users["participant"], participant__isnull=False
    ).exists()
    for exp, n_rooms, (lo, hi) in plan:
        for r in range(n_rooms):
            # One generator per room, so that skipping a loaded room changes nothing after it.
            exp_rng = random.Random(f"{seed}:{exp.public_id}:{r}")
            started = base + timedelta(hours=r * 2, minutes=exp_rng.randint(0, 50))
            n_people = exp_rng.randint(lo, hi) if exp is not multi or scale == "small" else hi
            room, people = _room(exp, exp_rng, started, n_people, disconnected=(r == 1))
            if not participant_account_linked and exp is multi:
                Profile.objects.filter(user=users["participant"]).update(participant=people[0][0])
                participant_account_linked = True
            if room.was_loaded:
                continue
            for key, records in _records(exp, room, people, sc, exp_rng).items():
                result = ingest(key, records, accept_closed=True)
                if result.errors:
                    raise RuntimeError(f"demo data rejected: {result.errors[:3]}")
                counts[key] = counts.get(key, 0) + result.accepted
            _attach_media(room)
        log(f"{exp.public_id}: {n_rooms} rooms")
    if archived.status != Experiment.Status.ARCHIVED:
        archived.status_before_archive = Experiment.Status.COMPLETED
        archived.status = Experiment.Status.ARCHIVED
        archived.save(update_fields=["status", "status_before_archive"])
    return counts


def _accounts() -> tuple[Lab, dict[str, Any]]:
    User = get_user_model()
    lab, _ = Lab.objects.get_or_create(slug="demo-lab", defaults={"name": "Demo Lab"})
    users = {}
    for username in ACCOUNTS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username,
                email=f"{username}@demo.hyperstudy.test",
                password=settings.DEMO_PASSWORD,
            )
        profile, _ = Profile.objects.get_or_create(user=user, defaults={"lab": lab})
        if username == "labadmin" and not profile.is_lab_admin:
            profile.is_lab_admin = True
            profile.save(update_fields=["is_lab_admin"])
        users[username] = user
    return lab, users


def _experiment(
    lab: Lab,
    public_id: str,
    name: str,
    *,
    multi: bool,
    video: bool,
    status: str = Experiment.Status.ACTIVE,
) -> Experiment:
    exp, _ = Experiment.objects.get_or_create(
        public_id=public_id,
        defaults={
            "lab": lab,
            "name": name,
            "status": status,
            "is_multi_participant": multi,
            "has_video_chat": video,
            "allow_participant_requests": multi,
            "created_at": datetime(2024, 10, 1, tzinfo=UTC),
            "description": f"Demo: {name.lower()}",
        },
    )
    return exp


class _Room:
    def __init__(self, room: Room, was_loaded: bool) -> None:
        self.room = room
        self.was_loaded = was_loaded

    def __getattr__(self, name: str) -> Any:
        return getattr(self.room, name)


def _room(
    exp: Experiment, rng: random.Random, started: datetime, n_people: int, disconnected: bool
) -> tuple[_Room, list[tuple[Participant, str, str]]]:
    room_id = f"room_{_hex(rng)}"
    duration = timedelta(minutes=rng.randint(18, 30))
    with transaction.atomic():
        room, _ = Room.objects.get_or_create(
            public_id=room_id,
            defaults={
                "experiment": exp,
                "started_at": started,
                "ended_at": started + duration,
                "status": Room.Status.COMPLETED,
            },
        )
        people = []
        for i in range(n_people):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            pid = f"user_{_hex(rng)}"
            participant, _ = Participant.objects.get_or_create(
                public_id=pid,
                defaults={
                    "display_name": f"{first} {last}",
                    "email": f"{first}.{last}{rng.randint(1, 99)}@example.org".lower(),
                    "ip_address": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                    f"{rng.randint(1, 254)}",
                },
            )
            status = (
                RoomParticipant.Status.DISCONNECTED
                if disconnected and i == n_people - 1
                else RoomParticipant.Status.COMPLETED
            )
            RoomParticipant.objects.get_or_create(
                room=room,
                participant=participant,
                defaults={"role": ROLES[i], "status": status, "joined_at": started},
            )
            people.append((participant, ROLES[i], status))
    from .models import Event

    return _Room(room, Event.objects.filter(room=room).exists()), people


def _records(
    exp: Experiment, room: _Room, people: list, sc: Scale, rng: random.Random
) -> dict[str, Iterator[dict]]:
    start = room.started_at
    rid = room.public_id
    out: dict[str, list[dict]] = {k: [] for k in T.BY_KEY}
    components = [
        ("consent_form", "Consent", "consent_state", {"text": "I agree to take part."}),
        (
            "video_intro",
            "ShowVideo",
            "introduction_state",
            {
                "videoUrl": "https://media.example.org/intro.mp4",
                "autoplay": True,
                "controls": False,
            },
        ),
        (
            "emotion_rating",
            "ContinuousRating",
            "rating_state",
            {"scaleMin": 0, "scaleMax": 100, "label": "How do you feel?"},
        ),
        (
            "mood_assessment",
            "VASRating",
            "questionnaire_state",
            {"scaleMin": 1, "scaleMax": 10, "labels": {"min": "Very sad", "max": "Very happy"}},
        ),
        ("text_chat", "TextChat", "discussion_state", {"maxLength": 500}),
    ]
    for n, (participant, role, status) in enumerate(people):
        pid = participant.public_id
        short = status == RoomParticipant.Status.DISCONNECTED
        first_name = participant.display_name.split()[0]
        condition = rng.choice(["treatment", "control"])
        for c_id, c_type, state, config in components:
            t = start + timedelta(seconds=-5 if c_id == "consent_form" else rng.randint(0, 60))
            out["components"].append(
                {
                    "snapshotId": f"snap_{rid[5:]}_{n}_{c_id}",
                    "componentId": c_id,
                    "componentType": c_type,
                    "experimentId": exp.public_id,
                    "stateId": state,
                    "config": config,
                    "timestamp": _iso(t),
                    "roomId": rid,
                    "participantId": pid,
                    "variableSnapshot": {"participant_name": first_name, "condition": condition},
                }
            )
        # Events: setup before the start (negative onset), then a cycle through the components.
        n_events = sc.events_per_participant // (3 if short else 1)
        t = start - timedelta(seconds=8)
        kinds = [
            ("state.enter", "state", None),
            ("component.start", "component", 1),
            ("media.play", "media", 1),
            ("media.pause", "media", 1),
            ("component.complete", "component", 1),
            ("rating.change", "component", 2),
            ("component.complete", "component", 3),
            ("chat.send", "communication", 4),
            ("sync.adjust", "sync", 1),
        ]
        for i in range(n_events):
            kind, category, comp = kinds[i % len(kinds)]
            c_id, c_type, state, _ = components[comp if comp is not None else i % 5]
            event: dict[str, Any] = {
                "id": f"event_{rid[5:]}_{n}_{i}",
                "timestamp": _iso(t),
                "sessionId": rid,
                "experimentId": exp.public_id,
                "participantId": pid,
                "eventType": kind,
                "category": category,
                "componentId": c_id,
                "componentType": c_type,
                "stateName": state,
                "participantRole": role,
                "content": f"{c_type}: {c_id}" if kind != "state.enter" else f"Entered {state}",
            }
            if kind == "component.complete":
                event["duration"] = rng.randint(1500, 45000)
                event["response"] = {
                    "value": rng.choice(["yes", "no"]),
                    "responseTime": rng.randint(400, 6000),
                }
            out["events"].append(event)
            t += timedelta(milliseconds=rng.randint(200, 2500))
        # Continuous ratings every 100-500 ms during the rating component.
        t = start + timedelta(seconds=30)
        end = t + timedelta(seconds=sc.rating_seconds // (2 if short else 1))
        value = 50.0
        i = 0
        while t < end:
            value = min(100.0, max(0.0, value + rng.gauss(0, 4)))
            out["continuous"].append(
                {
                    "ratingId": f"crating_{rid[5:]}_{n}_{i}",
                    "roomId": rid,
                    "participantId": pid,
                    "componentId": "emotion_rating",
                    "timestamp": _iso(t),
                    "value": round(value / 100, 4),
                    "normalizedValue": round(value / 100, 4),
                    "rawValue": round(value, 2),
                    "scaleMin": 0,
                    "scaleMax": 100,
                }
            )
            t += timedelta(milliseconds=rng.randint(100, 500))
            i += 1
        for i in range(3):
            out["sparse"].append(
                {
                    "ratingId": f"srating_{rid[5:]}_{n}_{i}",
                    "roomId": rid,
                    "participantId": pid,
                    "componentId": "mood_assessment",
                    "timestamp": _iso(start + timedelta(seconds=120 + 60 * i)),
                    "value": rng.randint(1, 10),
                    "responseTime": rng.randint(800, 9000),
                    "scaleMin": 1,
                    "scaleMax": 10,
                    "labels": {"min": "Very sad", "max": "Very happy"},
                }
            )
        if exp.is_multi_participant and len(people) > 1:
            for i in range(sc.sync_seconds // (2 if short else 1)):
                out["sync"].append(
                    {
                        "metricId": f"sync_{rid[5:]}_{n}_{i}",
                        "roomId": rid,
                        "participantId": pid,
                        "timestamp": _iso(
                            start + timedelta(seconds=60 + i, milliseconds=rng.randint(0, 80))
                        ),
                        "timeDrift": round(rng.gauss(0, 120), 1),
                        "playbackRate": round(1 + rng.gauss(0, 0.002), 4),
                        "syncQuality": round(min(1.0, max(0.0, rng.gauss(0.92, 0.05))), 3),
                        "latency": round(abs(rng.gauss(80, 25)), 1),
                        "bufferHealth": round(min(1.0, max(0.0, rng.gauss(0.9, 0.08))), 3),
                    }
                )
            others = [p.public_id for p, _, _ in people if p.public_id != pid]
            for i in range(4):
                line = rng.choice(CHAT_LINES)
                if i == 0:
                    line = f"Hi, I'm {first_name}!"
                out["chat"].append(
                    {
                        "messageId": f"msg_{rid[5:]}_{n}_{i}",
                        "roomId": rid,
                        "senderId": pid,
                        "content": line,
                        "timestamp": _iso(start + timedelta(seconds=400 + 20 * i + n)),
                        "recipientIds": others,
                        "messageType": "text",
                    }
                )
        if exp.has_video_chat:
            rec_start = start + timedelta(seconds=5)
            duration = 900000 if not short else 300000
            out["recordings"].append(
                {
                    "recordingId": f"rec_{rid[5:]}_{n}",
                    "roomId": rid,
                    "participantId": pid,
                    "startTime": _iso(rec_start),
                    "endTime": _iso(rec_start + timedelta(milliseconds=duration)),
                    "duration": duration,
                    "fileSize": len(_media_bytes(f"rec_{rid[5:]}_{n}")),
                    "status": "completed",
                    "format": "webm",
                    "resolution": "1280x720",
                }
            )
    return {k: iter(v) for k, v in out.items() if v}


def _media_bytes(record_id: str) -> bytes:
    # A tiny stand-in for a media file: an EBML (WebM) header and the recording id.
    return bytes.fromhex("1a45dfa3") + f"hyperstudy demo recording {record_id}\n".encode()


def _attach_media(room: Room) -> None:
    for rec in Recording.objects.filter(room_id=room.pk, file=""):
        name = default_storage.save(
            f"recordings/{rec.record_id}.webm", ContentFile(_media_bytes(rec.record_id))
        )
        rec.file.name = name
        rec.save(update_fields=["file"])
