"""What the data browser announces to the apps built on it, which it does not import."""

from __future__ import annotations

from django.dispatch import Signal

# Sent before the data of an experiment, room or participant is deleted, with the keyword
# arguments experiment, room and participant (the deleted scope; None for the others at
# room and participant level). A receiver returns how many things derived from the data it
# removed (exports: their jobs and files), which the deletion's audit entry reports.
data_deleting = Signal()
