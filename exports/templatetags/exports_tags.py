"""``{% export_button %}``: the download buttons of the browse pages.

Contract (used by the browse templates):
    {% export_button level experiment room=room_public_id participant=participant_public_id
                     data_type=datatype_key label="Download" %}
``level`` is "type", "participant", "room" or "experiment"; ``participant`` may be the public
id or the code shown to users who do not see identifiers. Renders nothing for a user who may
not export from ``experiment`` at that level (aggregate-only rights have nothing to offer for
one participant). The button opens the export dialog in ``#modal`` with htmx and is a plain
link to the same dialog page without JavaScript.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

register = template.Library()


@register.simple_tag(takes_context=True)
def export_button(
    context, level, experiment, room=None, participant=None, data_type=None, label="Download"
):
    from data_browser import access
    from exports.services import allowed_modes

    request = context.get("request")
    if request is None or not allowed_modes(access.for_request(request), experiment, level):
        return ""
    params = {"level": level, "experiment": experiment.public_id}
    for name, value in (("room", room), ("participant", participant), ("type", data_type)):
        if value:
            params[name] = value
    url = reverse("exports:new") + "?" + urlencode(params)
    return format_html(
        '<a class="btn export-button" href="{}" hx-get="{}" hx-target="#modal" '
        'data-export-level="{}">{}</a>',
        url,
        url,
        level,
        label,
    )
