"""What exports does when the data browser announces something (``data_browser.signals``)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from data_browser.signals import data_deleting

from . import services


@receiver(data_deleting, dispatch_uid="exports.remove_exports_of_deleted_data")
def remove_exports_of_deleted_data(sender: Any, **scope: Any) -> int:
    """Export files holding the data go with it (running jobs are cancelled first)."""
    return services.delete_exports_containing(
        experiment=scope["experiment"], room=scope["room"], participant=scope["participant"]
    )
