from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from . import access


def navigation(request: HttpRequest) -> dict:
    """What the sidebar needs to know about the signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_is_lab_admin": access.is_lab_admin(user),
        "nav_participant": access.participant_of(user),
        "display_zone": timezone.get_current_timezone_name(),
    }
