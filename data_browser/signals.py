"""What the data browser announces to the apps built on it, which it does not import."""

from __future__ import annotations

from django.dispatch import Signal

# Sent before the data of an experiment, room or participant is deleted, with the keyword
# arguments experiment, room and participant (the deleted scope; None for the others at
# room and participant level). A receiver returns how many things derived from the data it
# removed (exports: their jobs and files), which the deletion's audit entry reports.
data_deleting = Signal()

# Sent to prepare a participant's own copy of their data for an approved access request
# ("Request my data"), with the keyword arguments data_request, user (the participant's
# account, which owns the copy) and request. A receiver (exports) starts it and returns what
# it started, which has a ``public_id``; it raises ``GovernanceError`` when it cannot.
own_copy_requested = Signal()

# Sent to count the running work that removing access would end, for the confirmation page,
# with the keyword arguments user and experiment (a membership being removed) or key (an API
# key being revoked). A receiver returns how many of its running jobs would end (exports: the
# exports still running).
access_ending = Signal()


def running_work(**access: object) -> int:
    """What the receivers of ``access_ending`` count for this access."""
    answers = access_ending.send(sender=None, **access)
    return sum(n for _, n in answers if isinstance(n, int))
