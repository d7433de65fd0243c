"""Template helpers shared by every page: breadcrumbs, icons and readable values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django import template
from django.template.defaultfilters import capfirst, filesizeformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from data_browser import formats

register = template.Library()

# Outline icons drawn for this dashboard (a 24 by 24 grid, stroked with the text colour).
ICONS = {
    "menu": "M4 6h16M4 12h16M4 18h16",
    "theme": "M12 3a9 9 0 1 0 9 9 7 7 0 0 1-9-9z",
    "data": "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zm0 0v12c0 1.7 3.6 3 8 3s8-1.3 "
    "8-3V6M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3",
    "person": "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-8 9c0-4 3.6-6 8-6s8 2 8 6",
    "download": "M12 3v12m0 0-5-5m5 5 5-5M4 19h16",
    "key": "M15 7a4 4 0 1 1-3.9 4.9L4 19v2h3v-2h2v-2h2l1.1-1.1A4 4 0 0 1 15 7z",
    "lock": "M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4",
    "list": "M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01",
    "code": "M8 7 3 12l5 5m8-10 5 5-5 5",
    "gear": "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm7.4-3a7.4 7.4 0 0 0-.1-1.3l2-1.6-2-3.4-2.4 1a7 "
    "7 0 0 0-2.2-1.3L14.3 3h-4l-.4 2.4a7 7 0 0 0-2.2 1.3l-2.4-1-2 3.4 2 1.6a7.4 7.4 0 0 0 0 "
    "2.6l-2 1.6 2 3.4 2.4-1a7 7 0 0 0 2.2 1.3l.4 2.4h4l.4-2.4a7 7 0 0 0 2.2-1.3l2.4 1 2-3.4-2-1.6"
    "c.1-.4.1-.9.1-1.3z",
    "clock": "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zm0-13v4l3 2",
    "search": "M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zm5-2 5 5",
    "play": "M7 4v16l13-8z",
    "info": "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zm0-11v6m0-9h.01",
    "chevron": "m9 6 6 6-6 6",
}


@register.simple_tag
def icon(name: str) -> SafeString:
    return format_html(
        '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">'
        '<path d="{}"/></svg>',
        ICONS[name],
    )


@register.simple_tag
def breadcrumbs(*items: Any) -> SafeString:
    """One trail for every page: ``{% breadcrumbs crumbs %}`` with a list of (label, url) pairs,
    or ``{% breadcrumbs "Access" url "Delete" "" %}`` with labels and urls in turn; an empty
    url is the current page's label."""
    if len(items) == 1 and not isinstance(items[0], str):
        pairs: Sequence = list(items[0])
    else:
        pairs = list(zip(items[::2], items[1::2], strict=True))
    last = len(pairs) - 1
    parts = []
    for i, (label, url) in enumerate(pairs):
        current = _current("page" if i == last else None)
        if url:
            parts.append(format_html('<li><a href="{}"{}>{}</a></li>', url, current, label))
        else:
            parts.append(format_html("<li><span{}>{}</span></li>", current, label))
    return format_html(
        '<nav class="breadcrumbs" aria-label="Breadcrumb"><ol>{}</ol></nav>',
        mark_safe("".join(parts)),  # noqa: S308 - every part went through format_html
    )


def _current(value: str | None) -> SafeString:
    return format_html(' aria-current="{}"', value) if value else mark_safe("")


@register.filter
def when(value: datetime | str | None) -> SafeString:
    """A moment in the reader's time zone, with the exact instant (UTC, ISO 8601) on hover."""
    text = formats.when(value)
    if text == "—" or (isinstance(value, str) and text == value):
        return format_html("{}", text)
    iso = value if isinstance(value, str) else value.isoformat()
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, iso, text)


@register.filter
def when_minutes(value: datetime | None) -> str:
    return formats.when(value, seconds=False)


@register.filter
def duration(value: Any) -> str:
    return formats.duration(value)


@register.filter
def number(value: Any) -> str:
    return formats.number(value)


def json_value(value: Any) -> SafeString:
    """JSON values as the Data Viewer shows them: long objects indented in a block, short ones
    and scalars inline."""
    compact = formats.json_compact(value)
    if isinstance(value, dict | list) and len(compact) > 60:
        return format_html('<pre class="json">{}</pre>', formats.json_text(value))
    return format_html('<code class="json-scalar">{}</code>', compact)


@register.filter
def json_fields(value: dict) -> SafeString:
    """A flat object (audit details) as a definition list of its keys and JSON values."""
    if not isinstance(value, dict):
        return json_value(value)
    return _definitions((k, json_value(v)) for k, v in value.items())


def _definitions(pairs: Iterable[tuple[Any, Any]]) -> SafeString:
    rows = format_html_join("", "<div><dt>{}</dt><dd>{}</dd></div>", pairs)
    return format_html('<dl class="json-fields">{}</dl>', rows)


# An audit detail that is a moment (``expires_at``, ``until``): ISO 8601 with a time of day.
_ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@register.filter
def audit_details(value: Any) -> SafeString:
    """An audit entry's details in words: each key as a label, moments in the reader's zone,
    lists as comma-separated values, yes and no, "—" for nothing; a change (``before`` and
    ``after``) as the fields it changed, ``old → new``; another object inside them as a
    nested list, anything deeper as JSON."""
    return _detail(value, depth=0)


def _detail(value: Any, depth: int) -> SafeString:
    if value is None or value == "" or value == []:
        return mark_safe('<span class="muted">—</span>')
    if isinstance(value, bool):
        return format_html("{}", "yes" if value else "no")
    if isinstance(value, int | float):
        return format_html("{}", formats.number(value))
    if isinstance(value, str):
        return when(value) if _ISO_MOMENT.match(value) else format_html("{}", value)
    if isinstance(value, list) and not any(isinstance(v, dict | list) for v in value):
        return format_html_join(", ", "{}", ((_detail(v, depth + 1),) for v in value))
    if isinstance(value, dict) and depth < 2:
        pairs = [(_label(k), _detail(v, depth + 1)) for k, v in value.items() if k not in _CHANGE]
        if all(k in value for k in _CHANGE):
            pairs[:0] = _changes(value["before"], value["after"])
        return _definitions(pairs)
    return json_value(value)


_CHANGE = ("before", "after")


def _label(key: Any) -> str:
    return capfirst(str(key).replace("_", " "))


def _changes(before: Any, after: Any) -> list[tuple[str, SafeString]]:
    """A change as what it changed, ``old → new``: of two objects (a membership, a key) the
    fields that differ, in the order of the old one."""
    arrow = "{} \N{RIGHTWARDS ARROW} {}"
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return [("Changed", format_html(arrow, _detail(before, 2), _detail(after, 2)))]
    keys = [*before, *(k for k in after if k not in before)]
    return [
        (_label(k), format_html(arrow, _detail(before.get(k), 2), _detail(after.get(k), 2)))
        for k in keys
        if before.get(k) != after.get(k)
    ]


@register.simple_tag
def record_value(dt: Any, name: str, value: Any) -> SafeString:
    """One value of a record, read the way the Data Viewer reads it: times in the reader's zone,
    milliseconds with their duration in words, sizes in units, JSON as JSON, links as links."""
    from data_browser import datatypes as T

    if value is None or value == "":
        return mark_safe('<span class="muted">—</span>')
    try:
        field = dt.get_field(name)
    except KeyError:
        field = None
    kind = field.kind if field else ""
    if kind == T.DATETIME:
        return when(value)
    if kind == T.URL:
        return format_html('<a href="{}" download>Download</a>', value)
    if kind == T.JSON or isinstance(value, dict | list | bool):
        return json_value(value)
    if kind in (T.INT, T.FLOAT) and field.unit == "ms":
        if abs(value) < 1000:
            return format_html("{} ms", formats.number(value))
        return format_html(
            '{} ms <span class="muted">({})</span>', formats.number(value), formats.duration(value)
        )
    if kind == T.INT and field.unit == "bytes":
        return format_html('<span title="{} bytes">{}</span>', value, filesizeformat(value))
    if kind in (T.INT, T.FLOAT):
        return format_html("{}", formats.number(value))
    return format_html("{}", value)
