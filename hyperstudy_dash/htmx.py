"""One URL serves a page and its htmx partial (as django-htmx's example does).

A page template marks its swappable region with ``{% partialdef NAME inline %}``; an htmx
request gets only that partial, a plain request (and htmx's history restore, which needs the
whole page) the page. Sorting, filtering, paging and tab switching swap the region while the
pushed URL keeps reload, the back button and links working.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def render_page(
    request: HttpRequest,
    template_name: str,
    context: dict[str, Any],
    *,
    partial: str = "region",
    status: int = 200,
) -> HttpResponse:
    if request.htmx and not request.htmx.history_restore_request:
        template_name = f"{template_name}#{partial}"
    response = render(request, template_name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response
