"""One description of each of the seven data types.

Tables, filters, the API, ingest, anonymization and the export writers all
read these descriptions; nothing elsewhere lists a type's fields again.
Field names are the API's (camelCase, in the order of the API reference);
``column`` is the ORM path a reader selects for it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import models as dj

from . import models

# What a field is, which decides how it is validated, read, written and de-identified.
ID = "id"  # the record's own id (idempotency key): chosen by the experiment software, it often
# embeds the room id and sometimes a participant id (msg_<room>_<n>), so it is an identifier too
EXPERIMENT = "experiment"  # experiment public id
ROOM = "room"  # room public id
PARTICIPANT = "participant"  # participant public id: an identifier
PARTICIPANT_LIST = "participant_list"  # list of participant public ids
NAME = "name"  # a person's display name, joined from Participant: identifying
URL = "url"  # a signed download link, made when read
STR = "str"  # a label the experiment software chose (event type, component id, state): may
# embed ids, names or addresses like an id does
TEXT = "text"  # free text written by people: may mention names, emails, addresses
INT = "int"
FLOAT = "float"
DATETIME = "datetime"
JSON = "json"  # nested payload: may hold identifying values

# Fields that name another object: their heading drops the "Id" (``sessionId`` reads "Session").
REFERENCES = (EXPERIMENT, ROOM, PARTICIPANT, PARTICIPANT_LIST)
ACRONYMS = {"id": "ID", "ids": "IDs", "url": "URL"}


def readable(name: str, drop_id: bool = False) -> str:
    """An API name as words: ``componentType`` → "Component type", ``downloadUrl`` →
    "Download URL", ``metricId`` → "Metric ID" (``senderId`` → "Sender" with ``drop_id``)."""
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)]
    if drop_id and len(words) > 1 and words[-1] in ("id", "ids"):
        suffix = words.pop()[2:]
        words[-1] += suffix  # recipientIds: "Recipients"
    text = " ".join(ACRONYMS.get(w, w) for w in words)
    return text[:1].upper() + text[1:]


# What de-identification does with a field (``data_browser.identity.Policy`` applies it).
KEEP = "keep"  # numbers, times, the experiment id: no person in them
PERSON = "person"  # a participant id: becomes the participant's code
PEOPLE = "people"  # a list of participant ids: each becomes a code
ROOM_CODE = "room"  # a room id: becomes the room's code
RECORD_CODE = "record"  # a record id: becomes the record's code (it may embed any id)
DROP = "drop"  # a name or a signed link (whose path names the record): left empty
SCRUB = "scrub"  # labels, free text, payloads: the people and room of the record removed
DEIDENTIFY = {
    ID: RECORD_CODE,
    EXPERIMENT: KEEP,
    ROOM: ROOM_CODE,
    PARTICIPANT: PERSON,
    PARTICIPANT_LIST: PEOPLE,
    NAME: DROP,
    URL: DROP,
    STR: SCRUB,
    TEXT: SCRUB,
    INT: KEEP,
    FLOAT: KEEP,
    DATETIME: KEEP,
    JSON: SCRUB,
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    meaning: str
    column: str = ""
    unit: str = ""
    required: bool = False
    display: str = ""  # the name people read, where the one derived from ``name`` is not apt

    @property
    def label(self) -> str:
        """The name a reader sees (``componentType`` reads "Component type"); exports and the
        API keep ``name``, shown on hover."""
        return self.display or readable(self.name, drop_id=self.kind in REFERENCES)

    @property
    def deidentify(self) -> str:
        """What de-identification does with this field (one of KEEP … SCRUB)."""
        return DEIDENTIFY[self.kind]

    @property
    def writable(self) -> bool:
        return self.kind not in (NAME, URL)

    @property
    def attname(self) -> str:
        """The model attribute ingest writes (FKs as their ``_id``)."""
        if self.kind in (EXPERIMENT, ROOM, PARTICIPANT):
            return f"{self.kind}_id"
        return self.column

    @property
    def value_type(self) -> str:
        """The type named in the data dictionary."""
        return {
            ID: "string",
            EXPERIMENT: "string",
            ROOM: "string",
            PARTICIPANT: "string",
            PARTICIPANT_LIST: "array of strings",
            NAME: "string",
            URL: "string (URL)",
            STR: "string",
            TEXT: "string",
            INT: "integer",
            FLOAT: "number",
            DATETIME: "string (ISO 8601, UTC)",
            JSON: "object (JSON)",
        }[self.kind]


# Who is expected to have records of a type (the quality panel's completeness).
PER_PARTICIPANT = "participant"  # every participant of the scope, in experiments with video chat
PER_SHARED_ROOM = "shared_room"  # every room of two or more, in multi-participant experiments


@dataclass(frozen=True)
class Coverage:
    label: str
    per: str


@dataclass(frozen=True)
class DerivedId:
    """How ingest names a record sent without its id: a hash of the fields that identify it,
    so the same record sent twice gets the same id (and is stored once)."""

    prefix: str
    fields: tuple[str, ...]

    def of(self, record: Mapping[str, Any]) -> str:
        key = "\x1f".join(str(record.get(name, "")) for name in self.fields)
        return self.prefix + hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Aggregate:
    """What an "aggregate only" export writes of a type: one row per group of ``group``
    (API field names, or ``BIN`` for the record's onset in bins of ``BIN_MS``) with the
    number of records, of distinct participants, mean / sd / min / max of each of ``stats``
    and the ``extra`` columns (name, meaning, unit, "min" / "max" / "sum", API field)."""

    stem: str
    group: tuple[tuple[str, str], ...]  # (name, meaning)
    count: tuple[str, str]  # (name, meaning)
    stats: tuple[tuple[str, str], ...] = ()  # (API field, what it is)
    extra: tuple[tuple[str, str, str, str, str], ...] = ()
    participants: str = "Distinct participants in the group"


@dataclass(frozen=True)
class InForce:
    """What a record's own page shows beside it: the latest record of another type (``of``,
    a data type key) of the same participant in the same room at or before the record's time,
    its ``fields`` and the object ``variables`` as fields (an event's component snapshot: the
    variables as they stood when it happened). The words are the section's."""

    of: str
    fields: tuple[str, ...]
    variables: str
    title: str
    explained: str
    no_variables: str
    none_found: str
    none_found_why: str


BIN = "binStart"
BIN_MS = 1000  # width of the time bins an aggregate averages samples in


@dataclass(frozen=True)
class DataType:
    key: str  # short key used in URLs of the dashboard and in file names
    api_name: str  # as in /api/v3/data/{api_name}/...
    label: str  # tab label
    model: type[models.Record]
    scope: str  # API key scope needed to read it
    fields: tuple[Field, ...]
    description: str
    filters: tuple[str, ...] = ()  # filter names the dashboard offers besides the time range
    api_filters: tuple[str, ...] = ()  # the API's own query parameters of this type
    notes: dict[str, str] = field(default_factory=dict)
    # Fields a record normally carries although ingest does not insist on them: the quality
    # panel reports records without one (and without a participant).
    expected: tuple[str, ...] = ()
    coverage: Coverage | None = None
    derived_id: DerivedId | None = None  # when set, the id may be left out
    enrich: bool = False  # ingest fills componentType, content and participantRole if absent
    aggregate: Aggregate | None = None
    # Columns the tables leave out until a reader chooses them (the column chooser): ids and
    # details the export and the expanded row carry, so that a page fits its frame.
    hidden: tuple[str, ...] = ()
    band_field: str = ""  # the field whose value colours a table row (presentations.drift_band)
    in_force: InForce | None = None  # shown on a record's own page (record_detail_of)
    # What the tab shows besides the table, from the page's records (presentations.EXTRAS):
    # "transcript" (chat as a conversation), "cards" (recordings), "summary" (sync), or "".
    shown_as: str = ""

    def __post_init__(self) -> None:
        aggregated = ()
        if self.aggregate is not None:
            aggregated = (
                *(name for name, _ in self.aggregate.group if name != BIN),
                *(name for name, _ in self.aggregate.stats),
                *(extra[4] for extra in self.aggregate.extra),
            )
        derived = self.derived_id.fields if self.derived_id else ()
        banded = (self.band_field,) if self.band_field else ()
        for name in (*self.filters, *self.expected, *derived, *aggregated, *self.hidden, *banded):
            self.get_field(name)  # a renamed field fails at import, not in a panel or export

    @property
    def has_scale(self) -> bool:
        """Ratings on a scale whose bounds each row carries (``scaleMin``, ``scaleMax``)."""
        return {"scaleMin", "scaleMax"} <= {f.name for f in self.fields}

    @property
    def has_media(self) -> bool:
        """Records with a media file (a signed link when read, a file in exports)."""
        return any(f.kind == URL for f in self.fields)

    @property
    def file_stem(self) -> str:
        return self.api_name.replace("/", "_")

    @property
    def id_field(self) -> Field:
        return next(f for f in self.fields if f.kind == ID)

    @property
    def room_field(self) -> Field:
        """The field naming the record's room (``sessionId`` for events)."""
        return next(f for f in self.fields if f.kind == ROOM)

    @cached_property
    def deidentified_fields(self) -> tuple[tuple[str, str], ...]:
        """(field name, what de-identification does) of every field it changes."""
        return tuple((f.name, f.deidentify) for f in self.fields if f.deidentify != KEEP)

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.fields]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def get_field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def queryset(self) -> dj.QuerySet:
        return self.model.objects.all()


def _f(name: str, kind: str, meaning: str, column: str = "", **kw: Any) -> Field:
    if not column:
        column = {
            ID: "record_id",
            EXPERIMENT: "experiment__public_id",
            ROOM: "room__public_id",
            PARTICIPANT: "participant__public_id",
            NAME: "participant__display_name",
            URL: "file",
        }.get(kind, "")
    return Field(name=name, kind=kind, meaning=meaning, column=column, **kw)


def _common_time(timestamp_name: str = "timestamp", onset_name: str = "onset") -> tuple:
    return (
        _f(timestamp_name, DATETIME, "Absolute time", "timestamp", required=True),
        _f(
            onset_name,
            INT,
            "Time from the room's start (negative: before the start)",
            "onset",
            unit="ms",
        ),
    )


EXPERIMENT_ID = _f("experimentId", EXPERIMENT, "Experiment the record belongs to")
ROOM_ID = _f("roomId", ROOM, "Room (session) the record belongs to", required=True)
PARTICIPANT_ID = _f("participantId", PARTICIPANT, "Participant the record is about", required=True)
TIMESTAMP, ONSET = _common_time()

EVENTS = DataType(
    key="events",
    api_name="events",
    label="Events",
    model=models.Event,
    scope="read:events",
    description="Participant interactions, component completions, state transitions, media events.",
    filters=("eventType", "category", "componentId"),
    api_filters=("category",),
    expected=("category", "componentId"),
    enrich=True,
    hidden=("id", "componentId", "participantRole"),
    in_force=InForce(
        of="components",
        fields=("componentId", "componentType", "stateId", "timestamp", "onset"),
        variables="variableSnapshot",
        title="Variable states at the time of the event",
        explained="The latest component snapshot of this participant in this room at or before "
        "the event",
        no_variables="The snapshot holds no variables.",
        none_found="No component snapshot before this event.",
        none_found_why="Nothing had recorded the variables of this participant in this room at "
        "or before this moment (events before the first component, or events without a "
        "participant).",
    ),
    aggregate=Aggregate(
        "events_summary",
        group=(("eventType", "Type of event"), ("componentId", "Component id")),
        count=("events", "Number of events"),
        stats=(("duration", "the duration"),),
    ),
    fields=(
        _f("id", ID, "Event id"),
        TIMESTAMP,
        ONSET,
        EXPERIMENT_ID,
        _f(
            "sessionId", ROOM, "Room (session) the event happened in", required=True, display="Room"
        ),
        PARTICIPANT_ID,
        _f("eventType", STR, "Type of event, e.g. component.complete", "event_type", required=True),
        _f("category", STR, "component, state, media, communication or sync", "category"),
        _f("componentType", STR, "Component that generated the event (enriched)", "component_type"),
        _f("componentId", STR, "Component id", "component_id"),
        _f("content", TEXT, "Human-readable description (enriched)", "content"),
        _f("stateName", STR, "Experiment state the event happened in", "state_name"),
        _f("participantRole", STR, "Role of the participant in the room", "participant_role"),
        _f("duration", INT, "Duration of the component or action", "duration", unit="ms"),
        _f("response", JSON, "Participant's response data, if any", "response"),
    ),
)

RECORDINGS = DataType(
    key="recordings",
    api_name="recordings",
    label="Recordings",
    model=models.Recording,
    scope="read:recordings",
    description="Video and audio recordings from video chat sessions.",
    filters=("status", "format"),
    expected=("downloadUrl", "duration", "fileSize"),
    coverage=Coverage("Participants with a recording", PER_PARTICIPANT),
    hidden=("recordingId", "endTime", "videoOffset"),
    aggregate=Aggregate(
        "recordings_summary",
        group=(("format", "Container format"), ("status", "Recording status")),
        count=("recordings", "Number of recordings"),
        stats=(("duration", "the recording length"),),
        extra=(("totalBytes", "Total size of the files", "bytes", "sum", "fileSize"),),
    ),
    fields=(
        _f("recordingId", ID, "Recording id"),
        PARTICIPANT_ID,
        _f("participantName", NAME, "Display name of the participant recorded"),
        EXPERIMENT_ID,
        ROOM_ID,
        _f("startTime", DATETIME, "When the recording began", "timestamp", required=True),
        _f("endTime", DATETIME, "When the recording ended", "end_time"),
        _f("duration", INT, "Recording length", "duration", unit="ms"),
        _f(
            "videoOffset",
            INT,
            "Time from the room's start when the recording began",
            "onset",
            unit="ms",
        ),
        _f("downloadUrl", URL, "Signed link to the media file; expires"),
        _f("fileSize", INT, "File size", "file_size", unit="bytes"),
        _f("status", STR, "Recording status", "status"),
        _f("format", STR, "Container format, e.g. mp4", "format"),
        _f("resolution", STR, "Video resolution, e.g. 1280x720", "resolution"),
    ),
    shown_as="cards",
)

CHAT = DataType(
    key="chat",
    api_name="chat",
    label="Text Chat",
    model=models.ChatMessage,
    scope="read:chat",
    description="Messages sent through the text chat component.",
    filters=("content", "messageType"),
    hidden=("messageId",),
    aggregate=Aggregate(
        "chat_summary",
        group=(("roomId", "Room (by code)"),),
        count=("messages", "Number of chat messages"),
        participants="Distinct senders in the room",
    ),
    fields=(
        _f("messageId", ID, "Message id"),
        EXPERIMENT_ID,
        ROOM_ID,
        _f("senderId", PARTICIPANT, "Participant who sent the message", required=True),
        _f("senderName", NAME, "Display name of the sender"),
        _f("content", TEXT, "Message text", "content", required=True),
        TIMESTAMP,
        ONSET,
        _f(
            "recipientIds",
            PARTICIPANT_LIST,
            "Participants the message was sent to, if targeted",
            "recipient_ids",
        ),
        _f("messageType", STR, "Kind of message, e.g. text", "message_type"),
    ),
    shown_as="transcript",
)

CONTINUOUS_RATINGS = DataType(
    key="continuous",
    api_name="ratings/continuous",
    label="Continuous Ratings",
    model=models.ContinuousRating,
    scope="read:ratings",
    description="High-frequency rating samples (every 100-500 ms while rating).",
    filters=("componentId",),
    expected=("normalizedValue",),
    hidden=("ratingId", "rawValue"),
    aggregate=Aggregate(
        "continuous_ratings_summary",
        group=(
            ("componentId", "Rating component"),
            (BIN, f"Start of the {BIN_MS} ms time bin (onset)"),
        ),
        count=("samples", "Number of samples in the bin"),
        stats=(("value", "the rating value in the bin"),),
    ),
    notes={"sampling": "Samples are taken every 100-500 ms while the participant rates."},
    fields=(
        _f("ratingId", ID, "Rating sample id"),
        EXPERIMENT_ID,
        ROOM_ID,
        PARTICIPANT_ID,
        _f("componentId", STR, "Rating component", "component_id", required=True),
        TIMESTAMP,
        ONSET,
        _f("value", FLOAT, "Rating value", "value", required=True),
        _f(
            "normalizedValue",
            FLOAT,
            "Value scaled to 0-1 between scaleMin and scaleMax",
            "normalized_value",
        ),
        _f("rawValue", FLOAT, "Value on the component's own scale", "raw_value"),
        _f("scaleMin", FLOAT, "Lower bound of the scale", "scale_min"),
        _f("scaleMax", FLOAT, "Upper bound of the scale", "scale_max"),
    ),
)

SPARSE_RATINGS = DataType(
    key="sparse",
    api_name="ratings/sparse",
    label="Sparse Ratings",
    model=models.SparseRating,
    scope="read:ratings",
    description="Individual rating responses (VAS, Likert scales), one per submission.",
    filters=("componentId",),
    expected=("responseTime",),
    hidden=("ratingId",),
    aggregate=Aggregate(
        "sparse_ratings_summary",
        group=(("componentId", "Rating component"),),
        count=("ratings", "Number of ratings (n)"),
        stats=(("value", "the rating value"), ("responseTime", "the response time")),
        extra=(
            ("scaleMin", "Lower bound of the scale", "", "min", "scaleMin"),
            ("scaleMax", "Upper bound of the scale", "", "max", "scaleMax"),
        ),
    ),
    fields=(
        _f("ratingId", ID, "Rating id"),
        EXPERIMENT_ID,
        ROOM_ID,
        PARTICIPANT_ID,
        _f("componentId", STR, "Rating component", "component_id", required=True),
        TIMESTAMP,
        ONSET,
        _f("value", FLOAT, "Rating value", "value", required=True),
        _f("responseTime", INT, "Time taken to respond", "response_time", unit="ms"),
        _f("scaleMin", FLOAT, "Lower bound of the scale", "scale_min"),
        _f("scaleMax", FLOAT, "Upper bound of the scale", "scale_max"),
        _f("labels", JSON, "Scale labels, e.g. {min, max}", "labels"),
    ),
)

SYNC = DataType(
    key="sync",
    api_name="sync",
    label="Sync Metrics",
    model=models.SyncMetric,
    scope="read:sync",
    description="Video synchronization quality in multi-participant rooms.",
    api_filters=("aggregationWindow",),
    expected=("timeDrift", "syncQuality"),
    coverage=Coverage("Multi-participant rooms with sync metrics", PER_SHARED_ROOM),
    hidden=("metricId",),
    band_field="timeDrift",
    aggregate=Aggregate(
        "sync_summary",
        group=(("roomId", "Room (by code)"),),
        count=("samples", "Number of sync measurements"),
        stats=(
            ("syncQuality", "the sync quality (0-1)"),
            ("timeDrift", "the drift from the host"),
            ("latency", "the network latency"),
        ),
    ),
    fields=(
        _f("metricId", ID, "Metric id"),
        EXPERIMENT_ID,
        ROOM_ID,
        PARTICIPANT_ID,
        TIMESTAMP,
        ONSET,
        _f(
            "timeDrift",
            FLOAT,
            "Difference from the host (negative: behind)",
            "time_drift",
            unit="ms",
        ),
        _f("playbackRate", FLOAT, "Current playback speed adjustment", "playback_rate"),
        _f("syncQuality", FLOAT, "Sync quality from 0 (bad) to 1 (perfect)", "sync_quality"),
        _f("latency", FLOAT, "Network latency", "latency", unit="ms"),
        _f("bufferHealth", FLOAT, "Buffer health from 0 to 1", "buffer_health"),
    ),
    shown_as="summary",
)

COMPONENTS = DataType(
    key="components",
    api_name="components",
    label="Components",
    model=models.ComponentSnapshot,
    scope="read:components",
    description="Components as shown: configuration and variable values at display time.",
    filters=("componentId", "componentType", "stateId"),
    api_filters=("componentType", "stateId"),
    expected=("config",),
    derived_id=DerivedId("snap_", ("roomId", "participantId", "componentId", "timestamp")),
    hidden=("snapshotId",),
    aggregate=Aggregate(
        "components_summary",
        group=(
            ("componentId", "Component id"),
            ("componentType", "Component type"),
            ("stateId", "Experiment state"),
        ),
        count=("displays", "Number of times the component was shown"),
    ),
    fields=(
        _f("componentId", STR, "Component id", "component_id", required=True),
        _f("componentType", STR, "Component type, e.g. ShowVideo", "component_type"),
        EXPERIMENT_ID,
        _f("stateId", STR, "Experiment state the component belongs to", "state_id"),
        _f("config", JSON, "Component configuration", "config", display="Configuration"),
        TIMESTAMP,
        ONSET,
        _f(
            "variableSnapshot",
            JSON,
            "Variable values when the component was displayed",
            "variable_snapshot",
        ),
        _f("snapshotId", ID, "Id of this display of the component"),
        ROOM_ID,
        _f("participantId", PARTICIPANT, "Participant the component was shown to"),
    ),
)

DATA_TYPES: tuple[DataType, ...] = (
    EVENTS,
    RECORDINGS,
    CHAT,
    CONTINUOUS_RATINGS,
    SPARSE_RATINGS,
    SYNC,
    COMPONENTS,
)
BY_KEY = {dt.key: dt for dt in DATA_TYPES}
for _dt in DATA_TYPES:  # what a page shows beside a record names real fields (at import)
    if _dt.in_force is not None:
        for _name in (*_dt.in_force.fields, _dt.in_force.variables):
            BY_KEY[_dt.in_force.of].get_field(_name)

# The event categories (the events ``category`` filter), and the event types each one
# covers by prefix, for records that were stored without a category.
EVENT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "component": ("component.", "rating.", "response."),
    "state": ("state.", "experiment."),
    "media": ("media.", "video.", "audio."),
    "communication": ("chat.", "message.", "videochat."),
    "sync": ("sync.",),
}


def category_filter(category: str) -> dj.Q:
    """Events of a category: stored with it, or stored without one and of a type it covers."""
    by_type = dj.Q()
    for prefix in EVENT_CATEGORIES[category]:
        by_type |= dj.Q(event_type__startswith=prefix)
    return dj.Q(category=category) | (dj.Q(category="") & by_type)


@dataclass(frozen=True)
class Listing:
    """Who and where rather than records: the later edition's rooms and participants
    endpoints (experiment and room scopes), read with the scope of events."""

    api_name: str
    label: str
    scope: str
    fields: tuple[Field, ...]
    sorts: tuple[str, ...]  # API field names the listing may be sorted by; the first is default
    description: str

    @property
    def file_stem(self) -> str:
        return self.api_name

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


ROOMS = Listing(
    api_name="rooms",
    label="Rooms",
    scope="read:events",
    description="Rooms (sessions) of an experiment with their participant counts.",
    sorts=("startTime", "endTime", "roomId", "status"),
    fields=(
        _f("roomId", ROOM, "Room (session) id", "public_id"),
        _f("experimentId", EXPERIMENT, "Experiment of the room", "experiment__public_id"),
        _f("status", STR, "active or completed", "status"),
        _f("startTime", DATETIME, "When the room started (onset 0)", "started_at"),
        _f("endTime", DATETIME, "When the room ended, if it has", "ended_at"),
        _f("duration", INT, "endTime - startTime", "duration", unit="ms"),
        _f("participantCount", INT, "Participants who joined the room", "participant_count"),
    ),
)

PARTICIPANTS = Listing(
    api_name="participants",
    label="Participants",
    scope="read:events",
    description="Who took part in which room, in which role, and when.",
    sorts=("joinedAt", "completedAt", "participantId", "role", "status"),
    fields=(
        _f("participantId", PARTICIPANT, "Participant id (a code below the full right)"),
        _f("experimentId", EXPERIMENT, "Experiment", "room__experiment__public_id"),
        _f("roomId", ROOM, "Room (session) the participant took part in", "room__public_id"),
        _f("role", STR, "Role in the room, e.g. participant_a", "role"),
        _f("status", STR, "completed, active or disconnected", "status"),
        _f("joinedAt", DATETIME, "When the participant joined the room", "joined_at"),
        _f(
            "completedAt",
            DATETIME,
            "When the participant completed: the room's end, for those who completed",
            "completed_at",
        ),
        _f("name", NAME, "Display name (full export right only)"),
        _f("email", NAME, "Email address (full export right only)", "participant__email"),
    ),
)
BY_API_NAME = {dt.api_name: dt for dt in DATA_TYPES}
READ_SCOPES = tuple(dict.fromkeys(dt.scope for dt in DATA_TYPES))
WRITE_SCOPE = "write:data"
ALL_SCOPES = (*READ_SCOPES, WRITE_SCOPE)
READ_ALL = "read:*"  # every read scope, also of data types added later
EVERYTHING = "*"  # every scope, also scopes added later
KEY_SCOPES = (*READ_SCOPES, READ_ALL, WRITE_SCOPE, EVERYTHING)  # what a key may be given


def grants(held: Iterable[str] | None, needed: str) -> bool:
    """Whether scopes ``held`` (a key's, wildcards included) cover the scope ``needed``."""
    held = set(held or ())
    if needed in held or EVERYTHING in held:
        return True
    return READ_ALL in held and needed.startswith("read:")


def get(key_or_api_name: str) -> DataType:
    """Look a type up by its dashboard key or its API name; KeyError if neither."""
    if key_or_api_name in BY_KEY:
        return BY_KEY[key_or_api_name]
    return BY_API_NAME[key_or_api_name]


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


UrlBuilder = Callable[[str], str]


def to_records(
    dt: DataType, rows: Iterable[Sequence[Any]], url_for: UrlBuilder | None = None
) -> Iterator[dict[str, Any]]:
    """Turn rows selected with ``values_list(*dt.columns)`` into API records."""
    names = dt.field_names
    datetime_idx = [i for i, f in enumerate(dt.fields) if f.kind == DATETIME]
    url_idx = [i for i, f in enumerate(dt.fields) if f.kind == URL]
    for row in rows:
        values = list(row)
        for i in datetime_idx:
            values[i] = iso(values[i])
        for i in url_idx:
            values[i] = url_for(values[i]) if url_for else None
        yield dict(zip(names, values, strict=True))


def select(dt: DataType, queryset: dj.QuerySet) -> dj.QuerySet:
    """The queryset narrowed to exactly the columns of the API fields, in order."""
    return queryset.values_list(*dt.columns)
