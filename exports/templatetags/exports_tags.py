"""What the exports app adds to the data browser's pages, which do not import it.

``{% export_button %}``: the download buttons of the browse pages.

Contract (used by the browse templates):
    {% export_button level experiment room=room_public_id participant=participant_public_id
                     data_type=datatype_key filters=filterset label="Download" %}
``level`` is "type", "participant", "room" or "experiment"; ``participant`` may be the public
id or the code shown to users who do not see identifiers. Renders nothing for a user who may
not export from ``experiment`` at that level (aggregate-only rights have nothing to offer for
one participant). The button opens the export dialog in ``#modal`` with htmx and is a plain
link to the same dialog page without JavaScript. ``filters``, a Data Viewer tab's FilterSet,
makes it a contextual export: the filters that are set travel to the dialog as
``filter-<name>`` and the export holds only the rows the tab shows ("(filtered)" on the
button).

``{% recent_exports experiment as jobs %}``: the reader's newest exports of an experiment (its
overview). ``{% own_copies data_requests as jobs %}``: the newest export of each of a
participant's requests, by request id (My data).
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from data_browser import access
from exports.forms import FILTER_PREFIX
from exports.services import allowed_modes, jobs_for

register = template.Library()


@register.simple_tag(takes_context=True)
def export_button(
    context,
    level,
    experiment,
    room=None,
    participant=None,
    data_type=None,
    filters=None,
    label="Download",
):
    request = context.get("request")
    if request is None or not allowed_modes(access.for_request(request), experiment, level):
        return ""
    params = {"level": level, "experiment": experiment.public_id}
    for name, value in (("room", room), ("participant", participant), ("type", data_type)):
        if value:
            params[name] = value
    set_filters = {
        FILTER_PREFIX + name: filters.data[name]
        for name in (filters.base_filters if filters is not None else ())
        if filters.data.get(name, "").strip()
    }
    params.update(set_filters)
    url = reverse("exports:new") + "?" + urlencode(params)
    return format_html(
        '<a class="btn export-button" href="{}" hx-get="{}" hx-target="#modal" '
        'data-export-level="{}" data-export-filtered="{}">{}{}</a>',
        url,
        url,
        level,
        "true" if set_filters else "false",
        label,
        " (filtered)" if set_filters else "",
    )


RECENT_EXPORTS = 5


@register.simple_tag(takes_context=True)
def recent_exports(context, experiment) -> list:
    jobs = jobs_for(context["request"].user).filter(experiment=experiment)
    return list(jobs.order_by("-created_at")[:RECENT_EXPORTS])


@register.simple_tag(takes_context=True)
def own_copies(context, data_requests) -> dict:
    """Only the signed-in account's own jobs: the copy belongs to the participant's account."""
    jobs = jobs_for(context["request"].user).filter(data_request__in=data_requests)
    return {job.data_request_id: job for job in jobs.order_by("created_at")}
