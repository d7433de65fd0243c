"""``{% export_button %}``: the download buttons of the browse pages.

Contract (used by the browse templates):
    {% export_button level experiment room=room_public_id participant=participant_public_id
                     data_type=datatype_key label="Download" %}
``level`` is "type", "participant", "room" or "experiment". Renders nothing for a user
who may not export from ``experiment``.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from data_browser import access

register = template.Library()


@register.simple_tag(takes_context=True)
def export_button(
    context, level, experiment, room=None, participant=None, data_type=None, label="Download"
):
    request = context.get("request")
    if request is None or not access.allowed_anonymizations(request.user, experiment):
        return ""
    params = {"level": level, "experiment": experiment.public_id}
    for name, value in (("room", room), ("participant", participant), ("type", data_type)):
        if value:
            params[name] = value
    url = reverse("exports:list") + "?" + urlencode(params)
    return format_html('<a class="btn export-button" href="{}">{}</a>', url, label)
