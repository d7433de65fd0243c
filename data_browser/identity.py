"""The one de-identification policy: codes for people, rooms and records, and the removal of
identifying values from everything else.

Every output that a reader without the full export right sees goes through a ``Policy``: the
dashboard's pages, the API's JSON and CSV, every export format and its file and folder names,
the audit log. A code is a keyed HMAC of (experiment, value): stable within one experiment (so
the dashboard, the API and the exports of a reader join on it), unlinkable across experiments,
and irreversible without the server secret.

What happens to each field of a record is the registry's (``datatypes.Field.deidentify``):
participant ids become participant codes, room ids room codes, record ids record codes (they
often embed the room id or a participant id), names and signed links go, and labels, free text
and payloads are scrubbed. Scrubbing works per record with the people the record can mention,
the participants of its room, plus every e-mail address (the whole address) and IP address:
its cost is that of the record, however many people the experiment has.

A participant's own copy (``Policy.own``) keeps their own id, name and words and applies the
same rules to everyone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from django.conf import settings
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Cast

from . import datatypes as T
from .copysql import IsoUtc

REMOVED = "[removed]"
PARTICIPANT_PREFIX = "anon_"
ROOM_PREFIX = "room_"
RECORD_PREFIX = "id_"
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
IPV4 = r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
IPV6 = r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,7}:"
# A name's parts stand alone between anything but letters and digits: "rating_alex_2" names
# Alex as much as "Hi, I'm Alex" does.
_WORD = r"(?<![^\W_])(?:{})(?![^\W_])"
# The part of a room id after its prefix is what record ids embed (msg_<part>_3).
_MIN_ID_PART = 6
# What an IP address needs somewhere: a dot between digits, or a colon beside a hex digit.
_IP_HINT = re.compile(r"\d\.\d|[0-9A-Fa-f]:|:[0-9A-Fa-f]")
# Labels repeat (an event type, a component id): a scrubber remembers this many short values.
_MEMO_LENGTH = 200
_MEMO_SIZE = 20_000


def _secret() -> str:
    return getattr(settings, "PSEUDONYM_KEY", "") or settings.SECRET_KEY


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"hyperstudy.pseudonym:" + secret.encode()).digest()


def _mac(experiment_public_id: str, value: str, secret: str | None) -> bytes:
    key = _key(secret or _secret())
    return hmac.digest(key, f"{experiment_public_id}\x1f{value}".encode(), "sha256")


def _digest(experiment_public_id: str, value: str, secret: str | None = None) -> str:
    return base64.b32encode(_mac(experiment_public_id, value, secret)[:10]).decode().lower()


def participant_code(experiment_public_id: str, participant_public_id: str) -> str:
    return PARTICIPANT_PREFIX + _digest(experiment_public_id, participant_public_id)


def room_code(experiment_public_id: str, room_public_id: str) -> str:
    """A room's code: the same keyed HMAC as participant codes, in a separate namespace."""
    return ROOM_PREFIX + _digest(experiment_public_id, f"room\x1f{room_public_id}")


def record_code(experiment_public_id: str, record_id: str, secret: str | None = None) -> str:
    """A record id's code: the same record has the same code in every output, so files join
    (hex rather than base32: it is made once per record read)."""
    return RECORD_PREFIX + _mac(experiment_public_id, f"record\x1f{record_id}", secret)[:10].hex()


def _pads(secret: str) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104) of the pseudonym key."""
    key = _key(secret).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class RecordCode(Func):
    """``record_code`` made by PostgreSQL: the same HMAC-SHA256, built from ``sha256()`` as
    RFC 2104 defines it (``H(outer key || H(inner key || message))``), so a de-identified
    read codes its record ids in the query instead of once per row in Python. The padded
    keys travel as query parameters: a server that logs statement parameters logs them."""

    output_field = TextField()

    def __init__(self, experiment: Any, record_id: Any, secret: str | None = None) -> None:
        super().__init__(experiment, record_id)
        self.pads = _pads(secret or _secret())

    def as_sql(self, compiler, connection, **extra):
        (exp_sql, exp_params), (id_sql, id_params) = (
            compiler.compile(e) for e in self.source_expressions
        )
        inner, outer = self.pads
        message = f"convert_to({exp_sql} || %s || {id_sql}, 'UTF8')"
        sql = (
            f"('{RECORD_PREFIX}' || encode(substring("
            f"sha256(%s || sha256(%s || {message})) from 1 for 10), 'hex'))"
        )
        return sql, (outer, inner, *exp_params, "\x1frecord\x1f", *id_params)


@dataclass(frozen=True)
class Person:
    public_id: str
    name: str = ""
    email: str = ""
    ip: str | None = None

    @property
    def name_parts(self) -> list[str]:
        return [p for p in re.split(r"[\W_]+", self.name or "") if len(p) > 1]


def id_part(room_public_id: str) -> str | None:
    """The distinctive part of a room id (``room_49b794bf7782`` → ``49b794bf7782``)."""
    _, sep, rest = room_public_id.partition("_")
    return rest if sep and len(rest) >= _MIN_ID_PART else None


class Scrubber:
    """Removes a few people's identifiers and a few rooms' ids from strings and payloads, with
    one regular expression of their values (longest first), every e-mail address and every IP
    address. Participant ids become codes, room ids room codes, the rest ``[removed]``.
    ``keep`` are values that stay (the participant's own, in their own copy)."""

    def __init__(
        self,
        experiment_public_id: str,
        people: Iterable[Person],
        rooms: Iterable[str] = (),
        *,
        code: Callable[[str], str] | None = None,
        room: Callable[[str], str] | None = None,
        keep: Person | None = None,
    ) -> None:
        exp = experiment_public_id
        code = code or (lambda pid: participant_code(exp, pid))
        room = room or (lambda rid: room_code(exp, rid))
        values: dict[str, str] = {}
        parts: set[str] = set()
        for person in people:
            if keep is not None and person.public_id == keep.public_id:
                continue
            for secret in (person.name, person.email, person.ip):
                if secret and len(secret) >= 2:
                    values[secret.lower()] = REMOVED
            values[person.public_id.lower()] = code(person.public_id)
            parts.update(p.lower() for p in person.name_parts)
        for room_id in rooms:
            coded = room(room_id)
            values[room_id.lower()] = coded
            if part := id_part(room_id):
                values.setdefault(part.lower(), coded)
        self._values = values
        self._keep = set()
        if keep is not None:
            own = (keep.public_id, keep.name, keep.email, keep.ip, *keep.name_parts)
            self._keep = {v.lower() for v in own if v}
        parts -= self._keep
        self.needles = tuple({*values, *parts})  # lowered: a value holding none is left
        self._memo: dict[str, str] = {}  # scrubbed values, by value
        self._memos: dict[Callable[[str], str], dict[str, str]] = {}  # finished, by finish
        alternatives = [rf"(?P<e>{EMAIL})"]
        if values:
            known = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
            alternatives.append(f"(?P<v>{known})")
        alternatives += [rf"(?P<i>{IPV4}|{IPV6})"]
        if parts:
            words = "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
            alternatives.append(f"(?P<w>{_WORD.format(words)})")
        self._re = re.compile("|".join(alternatives), re.IGNORECASE)

    def _replace(self, match: re.Match) -> str:
        found = match.group(0)
        lowered = found.lower()
        if lowered in self._keep:
            return found
        if match.lastgroup == "v":
            return self._values[lowered]
        return REMOVED

    def text(self, value: str, finish: Callable[[str], str] | None = None) -> str:
        """``value`` without the identifiers, then ``finish``-ed (remembered with it)."""
        memo = self._memo if finish is None else self.finished(finish)
        found = memo.get(value)
        if found is not None:
            return found
        scrubbed = self._scrub(value)
        if finish is not None:
            scrubbed = finish(scrubbed)
        if len(value) <= _MEMO_LENGTH and len(memo) < _MEMO_SIZE:
            memo[value] = scrubbed
        return scrubbed

    def finished(self, finish: Callable[[str], str] | None) -> dict[str, str]:
        """The scrubbed values remembered for ``finish`` (None: as scrubbed)."""
        if finish is None:
            return self._memo
        memo = self._memos.get(finish)
        if memo is None:
            memo = self._memos[finish] = {}
        return memo

    def _scrub(self, value: str) -> str:
        """Substring tests first (cheap, in C): most values name nobody, and the expression
        costs tens of microseconds even where it finds nothing."""
        if "@" not in value and _IP_HINT.search(value) is None:
            lowered = value.lower()
            if not any(needle in lowered for needle in self.needles):
                return value
        return self._re.sub(self._replace, value)

    def payload(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        # Keys and string values, the most common ones, looked up without a call.
        memo, text, payload = self._memo, self.text, self.payload
        if isinstance(value, dict):
            return {
                (memo.get(k) or text(str(k))): (memo.get(v) or text(v))
                if type(v) is str
                else payload(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [(memo.get(v) or text(v)) if type(v) is str else payload(v) for v in value]
        return value


class Policy:
    """How one reader sees the identifiers of one experiment.

    ``identifiers``: everything as stored. Otherwise codes (``Policy.coded``) or, for a
    participant's own copy (``Policy.own``), their own id, name and words with everyone else by
    code and real room ids (the rooms are their own sessions). ``room_ids`` keeps room ids
    while coding people (a participant browsing their own sessions). ``people`` loads the
    Persons of the given rooms of the experiment, by room id (``people_of_rooms`` by default).
    """

    def __init__(
        self,
        experiment_public_id: str,
        *,
        identifiers: bool,
        own: Person | None = None,
        room_ids: bool = False,
        people: Callable[[str, Sequence[str]], dict[str, list[Person]]] | None = None,
    ) -> None:
        self.experiment_id = experiment_public_id
        self.identifiers = identifiers
        self.own = own
        self.room_ids = identifiers or room_ids or own is not None
        self._load = people or people_of_rooms
        self._scrubbers: dict[str, Scrubber] = {}
        self._everyone: Scrubber | None = None
        self._codes: dict[str, str] = {}  # participant and room ids seen, with their codes
        self._plans: dict[Any, tuple] = {}  # per data type: the function of each field
        self._secret = _secret()

    @classmethod
    def coded(cls, experiment_public_id: str, **kw: Any) -> Policy:
        return cls(experiment_public_id, identifiers=False, **kw)

    @classmethod
    def full(cls, experiment_public_id: str) -> Policy:
        return cls(experiment_public_id, identifiers=True)

    @classmethod
    def own_copy(cls, experiment_public_id: str, own: Person, **kw: Any) -> Policy:
        return cls(experiment_public_id, identifiers=False, own=own, **kw)

    # Single values, as pages, file names and URLs show them.

    def participant(self, public_id: str | None) -> str | None:
        if public_id is None or self.identifiers:
            return public_id
        if self.own is not None and public_id == self.own.public_id:
            return public_id
        code = self._codes.get(public_id)
        if code is None:
            code = PARTICIPANT_PREFIX + _digest(self.experiment_id, public_id, self._secret)
            self._codes[public_id] = code
        return code

    def room(self, public_id: str | None) -> str | None:
        if public_id is None or self.room_ids:
            return public_id
        key = f"room\x1f{public_id}"
        code = self._codes.get(key)
        if code is None:
            code = ROOM_PREFIX + _digest(self.experiment_id, key, self._secret)
            self._codes[key] = code
        return code

    def label(self, value: str) -> str:
        """A label or text that may name anyone of the experiment (an audit entry's scope, an
        aggregate's group): scrubbed with everyone's identifiers. Built once per policy, so
        only for a few values, never per record."""
        if self.identifiers:
            return value
        return self.everyone().text(value)

    def everyone(self) -> Scrubber:
        if self._everyone is None:
            people = people_of_experiment(self.experiment_id)
            self._everyone = self._scrubber([p for group in people.values() for p in group], people)
        return self._everyone

    # Records.

    def records(
        self, dt: T.DataType, records: list[dict[str, Any]], *, ids_coded: bool = False
    ) -> list[dict[str, Any]]:
        """The records as this reader may see them, each scrubbed with the people of its
        room (read once per room and policy). ``ids_coded``: the record ids are codes
        already (``RecordCode`` in the query)."""
        if self.identifiers or not records:
            return records
        room_name = dt.room_field.name
        self._read_rooms({r[room_name] for r in records})
        steps = self._steps(dt, ids_coded=ids_coded)
        scrubbers = self._scrubbers
        if self.own is None:
            return [_apply(steps, r, scrubbers[r[room_name]]) for r in records]
        return [self._own_record(dt, steps, r, scrubbers[r[room_name]]) for r in records]

    def room_label(self, room_public_id: str, value: str) -> str:
        """A label of one room's records shown on its own (a plot's component)."""
        if self.identifiers:
            return value
        return self.scrubber(room_public_id).text(value)

    def scrubber(self, room_public_id: str) -> Scrubber:
        """The scrubber of one room's records, with the people of the room (read once per
        policy)."""
        self._read_rooms({room_public_id})
        return self._scrubbers[room_public_id]

    def _read_rooms(self, room_ids: set[str]) -> None:
        missing = room_ids - self._scrubbers.keys()
        if missing:
            found = self._load(self.experiment_id, sorted(missing))
            for room_id in missing:
                self._scrubbers[room_id] = self._room_scrubber(room_id, found.get(room_id, []))

    def _room_scrubber(self, room_id: str, people: list[Person]) -> Scrubber:
        """A room's scrubber, shared by the policies of this process (``_SHARED``): keyed by
        all it is made of, the people as read now included, so any change makes a new one."""
        rooms = () if self.room_ids else (room_id,)
        key = (self.experiment_id, tuple(people), rooms, self.own, self._secret)
        with _SHARED_LOCK:
            found = _SHARED.get(key)
            if found is not None:
                _SHARED.move_to_end(key)
                return found
        found = self._scrubber(people, rooms)
        with _SHARED_LOCK:
            _SHARED[key] = found
            while len(_SHARED) > _SHARED_SIZE:
                _SHARED.popitem(last=False)
        return found

    def _scrubber(self, people: Iterable[Person], rooms: Iterable[str]) -> Scrubber:
        return Scrubber(
            self.experiment_id,
            people,
            [] if self.room_ids else rooms,
            code=self.participant,
            room=self.room,
            keep=self.own,
        )

    def _roles(self) -> dict[str, Step]:
        """The function of each de-identification role (``datatypes.Field.deidentify``)."""
        exp, secret, person, room = self.experiment_id, self._secret, self.participant, self.room
        record_id: Step = (
            (lambda v, s: s.text(v))
            if self.own is not None
            else (lambda v, s: record_code(exp, v, secret))
        )
        return {
            T.PERSON: lambda v, s: person(v),
            T.PEOPLE: lambda v, s: [person(x) for x in v],
            T.ROOM_CODE: lambda v, s: room(v),
            T.RECORD_CODE: record_id,
            T.DROP: lambda v, s: None,
            T.SCRUB: lambda v, s: (s._memo.get(v) or s.text(v)) if type(v) is str else s.payload(v),
        }

    def _steps(self, dt: T.DataType, *, ids_coded: bool = False) -> Plan:
        """What happens to each field of ``dt`` that de-identification changes (looked up
        once per type, not once per value): the fields scrubbed, and one function for each
        other field."""
        key = (dt.key, ids_coded)
        found = self._plans.get(key)
        if found is None:
            by_role = self._roles()
            fields = dt.deidentified_fields
            found = (
                tuple(name for name, role in fields if role == T.SCRUB),
                tuple(
                    (name, by_role[role])
                    for name, role in fields
                    if role != T.SCRUB and not (ids_coded and role == T.RECORD_CODE)
                ),
            )
            self._plans[key] = found
        return found

    # Rows selected by the database (``columns``): the fast path of files and streams.

    @property
    def in_database(self) -> bool:
        """Whether the database makes this reader's record codes (``columns``/``rows``):
        codes for everyone, not a participant's own copy (whose record ids are scrubbed)."""
        return not self.identifiers and self.own is None

    def columns(self, dt: T.DataType, experiment: Any = None) -> list[Any]:
        """What to select for ``rows``, one expression per field of ``dt`` in order: record
        ids as their codes (``RecordCode``), times as the API writes them, names and links
        empty, payloads as JSON text; participant and room ids as stored, to be coded and
        scrubbed by ``rows``. ``experiment``: the expression of the record's experiment
        public id (this policy's experiment by default)."""
        if experiment is None:
            experiment = Value(self.experiment_id, output_field=TextField())
        out: list[Any] = []
        for f in dt.fields:
            role = f.deidentify
            if role == T.RECORD_CODE:
                out.append(RecordCode(experiment, F(f.column), self._secret))
            elif role == T.DROP:
                out.append(Value(None, output_field=TextField()))
            elif f.kind == T.DATETIME:
                out.append(IsoUtc(F(f.column)))
            elif f.kind in (T.JSON, T.PARTICIPANT_LIST):
                out.append(Cast(F(f.column), TextField()))
            else:
                out.append(F(f.column))
        return out

    def rows(
        self,
        dt: T.DataType,
        rows: Sequence[Sequence[Any]],
        finish: Callable[[str], str] | None = None,
    ) -> list[list[Any]]:
        """Rows selected with ``columns``, de-identified: for each the values that
        ``records`` gives its record, in field order, each scrubbed with the people of its
        room. ``finish`` is applied to each scrubbed label and text (a CSV writer's
        neutralisation), remembered with the scrubbing: a label that repeats costs one
        look-up."""
        if not rows:
            return []
        room_at = dt.fields.index(dt.room_field)
        self._read_rooms({row[room_at] for row in rows})
        texts, steps = self._row_steps(dt)
        scrubbers = self._scrubbers
        out = []
        for row in rows:
            scrub = scrubbers[row[room_at]]
            memo = scrub.finished(finish)
            values = list(row)
            for i in texts:
                value = values[i]
                if value is not None:
                    found = memo.get(value)
                    values[i] = found if found is not None else scrub.text(value, finish)
            for i, step in steps:
                value = values[i]
                if value is not None:
                    values[i] = step(value, scrub)
            out.append(values)
        return out

    def _row_steps(self, dt: T.DataType) -> tuple[tuple[int, ...], tuple[tuple[int, Step], ...]]:
        """For ``rows``: the fields scrubbed as text, and the function of each other field
        the database does not make."""
        key = ("rows", dt.key)
        found = self._plans.get(key)
        if found is None:
            by_role = self._roles()
            texts, steps = [], []
            for i, f in enumerate(dt.fields):
                role = f.deidentify
                if role in (T.KEEP, T.RECORD_CODE, T.DROP):  # made by the database
                    continue
                if role == T.SCRUB and f.kind in (T.STR, T.TEXT):
                    texts.append(i)
                elif f.kind in (T.JSON, T.PARTICIPANT_LIST):
                    steps.append((i, _decoded(by_role[role])))
                else:
                    steps.append((i, by_role[role]))
            found = self._plans[key] = (tuple(texts), tuple(steps))
        return found

    def _own_record(
        self, dt: T.DataType, steps: Plan, record: dict[str, Any], scrub: Scrubber
    ) -> dict[str, Any]:
        """A record of the participant's own copy: their own name and link stay on their
        own records."""
        out = _apply(steps, record, scrub)
        own_id = self.own.public_id if self.own is not None else None
        roles = dt.deidentified_fields
        if any(record.get(name) == own_id for name, role in roles if role == T.PERSON):
            for name, role in roles:
                if role == T.DROP:
                    out[name] = record.get(name)
        return out


Step = Callable[[Any, Scrubber], Any]
Plan = tuple[tuple[str, ...], tuple[tuple[str, Step], ...]]

# The rooms' scrubbers of recent reads, most recent last. A page of 1000 records can span
# hundreds of rooms: building their scrubbers and scrubbing their labels afresh for each
# request cost more than the page itself.
_SHARED: OrderedDict[tuple, Scrubber] = OrderedDict()
_SHARED_LOCK = threading.Lock()
_SHARED_SIZE = 256


def _decoded(step: Step) -> Step:
    """``step`` of a payload selected as JSON text: decoded as the ORM decodes it."""
    return lambda v, s: step(_loads(v), s)


# Integers of 19 digits or more, which orjson reads as floats (beyond 64 bits) and json not.
_LONG_DIGITS = re.compile(r"\d{19}")


def _loads(text: str) -> Any:
    """``json.loads``, as the ORM decodes a JSONField (the text itself if it is not JSON),
    by orjson where the two agree (PostgreSQL writes numbers without exponents)."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _apply(plan: Plan, record: dict[str, Any], scrub: Scrubber) -> dict:
    """``record`` through ``plan`` (``Policy._steps``): scrubbed values are looked up in the
    scrubber's memo without a call (a page's labels repeat), the other fields go through
    their step."""
    scrubbed, steps = plan
    out = dict(record)
    memo = scrub._memo
    for name in scrubbed:
        value = out.get(name)
        if value is None:
            continue
        if type(value) is str:
            found = memo.get(value)
            out[name] = found if found is not None else scrub.text(value)
        else:
            out[name] = scrub.payload(value)
    for name, step in steps:
        value = out.get(name)
        if value is not None:
            out[name] = step(value, scrub)
    return out


def by_experiment(
    policies: Mapping[str, Policy],
    dt: T.DataType,
    records: list[dict[str, Any]],
    *,
    ids_coded: bool = False,
) -> list[dict[str, Any]]:
    """Records of several experiments, each through its experiment's policy (records of an
    experiment without one stay as they are), in their order. ``ids_coded``: as for
    ``Policy.records``."""
    out = list(records)
    for exp_id, policy in policies.items():
        at = [i for i, r in enumerate(records) if r["experimentId"] == exp_id]
        if at:
            cleaned = policy.records(dt, [records[i] for i in at], ids_coded=ids_coded)
            for i, record in zip(at, cleaned, strict=True):
                out[i] = record
    return out


PEOPLE_COLUMNS = (
    "room__public_id",
    "participant__public_id",
    "participant__display_name",
    "participant__email",
    "participant__ip_address",
)


def _grouped(rows: Iterable[tuple]) -> dict[str, list[Person]]:
    out: dict[str, list[Person]] = {}
    for room_id, pid, name, email, ip in rows:
        out.setdefault(room_id, []).append(Person(pid, name or "", email or "", ip))
    return out


def people_of_rooms(experiment_public_id: str, room_ids: Sequence[str]) -> dict[str, list[Person]]:
    """The participants of the given rooms of an experiment, by room id (one query)."""
    from .models import RoomParticipant

    rows = RoomParticipant.objects.filter(
        room__experiment__public_id=experiment_public_id, room__public_id__in=list(room_ids)
    ).values_list(*PEOPLE_COLUMNS)
    return _grouped(rows)


def people_of_experiment(experiment_public_id: str) -> dict[str, list[Person]]:
    """Every room of an experiment with its participants, by room id."""
    from .models import Room, RoomParticipant

    rows = RoomParticipant.objects.filter(
        room__experiment__public_id=experiment_public_id
    ).values_list(*PEOPLE_COLUMNS)
    grouped = _grouped(rows)
    for room_id in Room.objects.filter(experiment__public_id=experiment_public_id).values_list(
        "public_id", flat=True
    ):
        grouped.setdefault(room_id, [])
    return grouped


def person(participant: Any) -> Person:
    """A Person from a ``Participant``."""
    return Person(
        participant.public_id,
        participant.display_name or "",
        participant.email or "",
        participant.ip_address,
    )


def find_room(rooms: Iterable[tuple[int, str, str]], code: str) -> int | None:
    """The pk of the room among (pk, public id, experiment public id) whose code is ``code``."""
    if not code.startswith(ROOM_PREFIX):
        return None
    for pk, public_id, experiment_public_id in rooms:
        if room_code(experiment_public_id, public_id) == code:
            return pk
    return None
