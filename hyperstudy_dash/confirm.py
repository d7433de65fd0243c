"""Destructive actions go through one confirmation that counts what they will remove.

A view that deletes, removes or revokes answers the first POST (or a GET) with the
confirmation page and changes nothing; the page's own form repeats the POST with
``confirmed=1`` (and the fields the action needs), and only that POST acts, then redirects
(post/redirect/get: a reload never repeats it). Data deletion, approving a deletion request,
deleting an export, removing a member and revoking an API key all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

CONFIRMED = "confirmed"


def confirmed(request: HttpRequest) -> bool:
    """Whether this is the confirmation page's own POST."""
    return request.method == "POST" and request.POST.get(CONFIRMED) == "1"


@dataclass
class Confirmation:
    """What one destructive action will remove, counted, and the form that does it."""

    heading: str  # "Delete room room_1?"
    rows: list[tuple[str, int]]  # what goes, counted: (what, how many)
    back: str  # Cancel
    action: str = ""  # where the confirming POST goes ("": this URL)
    fields: dict[str, Any] = field(default_factory=dict)  # carried to the confirming POST
    label: str = "Delete permanently"
    columns: tuple[str, str] = ("What", "Count")
    total: str = ""  # the label of a total row of the counts ("": none)
    lines: list[str] = field(default_factory=list)  # further consequences, in words
    intro: str = "This removes, permanently and at once:"
    note: str = ""
    empty: tuple[str, str] | None = None  # (headline, why) when there is nothing to remove
    act_when_empty: bool = False  # the action still has something to do (record a decision)

    @property
    def count(self) -> int:
        return sum(n for _, n in self.rows)

    @property
    def is_empty(self) -> bool:
        return self.empty is not None


def confirmation_page(
    request: HttpRequest,
    confirm: Confirmation,
    *,
    title: str,
    nav_section: str,
    crumbs: list[tuple[str, str]] | None = None,
) -> HttpResponse:
    """The confirmation: nothing has changed yet."""
    return render(
        request,
        "confirm_delete.html",
        {
            "title": title,
            "nav_section": nav_section,
            "crumbs": crumbs,
            "confirm": confirm,
            "confirmed_field": CONFIRMED,
        },
    )
