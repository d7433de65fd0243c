"""What every governance action checks first, and the error it raises when the input or the
state forbids the change.

Every governance function either completes and writes its audit entry, or raises and changes
nothing: ``GovernanceError`` for bad input (shown to the user as a message) and
``PermissionDenied`` for an action the actor may not take.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from data_browser import access
from data_browser.models import Experiment


class GovernanceError(Exception):
    """Bad input or a state that forbids the change; the message is meant for the user."""


def check_choice(value: str, choices: type, what: str) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise GovernanceError(f"“{value}” is not a valid {what}; choose one of: {allowed}.")
    return value


def lock(experiment: Experiment) -> Experiment:
    return Experiment.objects.select_for_update().get(pk=experiment.pk)


def require_owner(actor: Any, experiment: Experiment) -> None:
    if not access.for_user(actor).is_owner(experiment):
        raise PermissionDenied("Only the experiment's owners change its retention and status.")
