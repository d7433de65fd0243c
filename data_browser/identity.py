"""Participant codes and the removal of identifying values.

A code is a keyed HMAC of (experiment, participant): stable within one
experiment, unlinkable across experiments, and irreversible without the
server secret. The exports, the API and the dashboard all use these codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from . import datatypes as T

REMOVED = "[removed]"
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
IPV4_RE = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
IPV6_RE = re.compile(
    r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,7}:"
)


def _key() -> bytes:
    configured = getattr(settings, "PSEUDONYM_KEY", "") or ""
    secret = configured or settings.SECRET_KEY
    return hashlib.sha256(b"hyperstudy.pseudonym:" + secret.encode()).digest()


def participant_code(experiment_public_id: str, participant_public_id: str) -> str:
    digest = hmac.new(
        _key(), f"{experiment_public_id}\x1f{participant_public_id}".encode(), hashlib.sha256
    ).digest()
    return "anon_" + base64.b32encode(digest[:10]).decode().lower()


class Deidentifier:
    """Rewrites API records so that no participant id, name, email or IP address remains.

    ``people`` are (experiment public id, participant public id, display name, email, ip)
    of everyone who may appear in the records; their ids are replaced by codes wherever they
    occur, also inside free text and JSON payloads, and their names, emails and addresses are
    removed.
    """

    def __init__(self, people: Iterable[tuple[str, str, str, str, str | None]]) -> None:
        people = list(people)
        self._codes: dict[tuple[str, str], str] = {}
        replacements: dict[str, str] = {}
        for exp_id, pid, name, email, ip in people:
            code = participant_code(exp_id, pid)
            self._codes[(exp_id, pid)] = code
            replacements.setdefault(pid, code)
            for secret in (name, email, ip):
                if secret and len(secret) >= 2:
                    replacements[secret] = REMOVED
        self._replacements = replacements
        if replacements:
            alternation = "|".join(
                re.escape(s) for s in sorted(replacements, key=len, reverse=True)
            )
            self._people_re: re.Pattern[str] | None = re.compile(alternation, re.IGNORECASE)
            self._lower = {k.lower(): v for k, v in replacements.items()}
        else:
            self._people_re = None
            self._lower = {}
        # Each part of a name as a whole word too: a chat line says "Hi, I'm Alex" and a
        # variable snapshot holds a first name, where the full name never appears.
        parts = {p for person in people for p in re.split(r"[\s,]+", person[2] or "") if len(p) > 1}
        alternation = "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
        self._parts_re = re.compile(rf"\b(?:{alternation})\b", re.IGNORECASE) if parts else None

    def code(self, experiment_id: str, participant_id: str | None) -> str | None:
        if participant_id is None:
            return None
        return self._codes.get((experiment_id, participant_id)) or participant_code(
            experiment_id, participant_id
        )

    def text(self, value: str) -> str:
        if self._people_re is not None:
            value = self._people_re.sub(lambda m: self._lower[m.group(0).lower()], value)
        if self._parts_re is not None:
            value = self._parts_re.sub(REMOVED, value)
        value = EMAIL_RE.sub(REMOVED, value)
        value = IPV4_RE.sub(REMOVED, value)
        return IPV6_RE.sub(REMOVED, value)

    def payload(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.payload(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.payload(v) for v in value]
        return value

    def record(self, dt: T.DataType, record: dict[str, Any]) -> dict[str, Any]:
        exp_id = record.get("experimentId") or ""
        out = dict(record)
        for f in dt.fields:
            value = out.get(f.name)
            if value is None:
                continue
            if f.kind == T.PARTICIPANT:
                out[f.name] = self.code(exp_id, value)
            elif f.kind == T.PARTICIPANT_LIST:
                out[f.name] = [self.code(exp_id, v) for v in value]
            elif f.kind in (T.NAME, T.URL):
                out[f.name] = None
            elif f.kind == T.TEXT:
                out[f.name] = self.text(value)
            elif f.kind == T.JSON:
                out[f.name] = self.payload(value)
        return out


PEOPLE_COLUMNS = (
    "room__experiment__public_id",
    "participant__public_id",
    "participant__display_name",
    "participant__email",
    "participant__ip_address",
)


def people(room_participants: QuerySet) -> QuerySet:
    """The rows a Deidentifier is built from, for the given RoomParticipant queryset."""
    return room_participants.values_list(*PEOPLE_COLUMNS).distinct()


def deidentifier_for(experiment_ids: Iterable[int]) -> Deidentifier:
    """A Deidentifier that knows everyone who took part in the given experiments."""
    from .models import RoomParticipant

    return Deidentifier(
        people(RoomParticipant.objects.filter(room__experiment_id__in=list(experiment_ids)))
    )
