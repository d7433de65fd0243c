"""Small template helpers of the browse pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from data_browser import plots
from data_browser.tables import People

register = template.Library()


@register.filter
def get_item(mapping: dict, key: str) -> Any:
    return mapping.get(key, "")


@register.filter
def label(people: People, ref: str) -> str:
    return people.label(ref)


@register.filter
def legend(plot: plots.Plot) -> SafeString:
    return plots.legend(plot)
