"""What exports does when the data browser announces something (``data_browser.signals``)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from data_browser.governance.rules import GovernanceError
from data_browser.models import DataRequest
from data_browser.signals import access_ending, data_deleting, own_copy_requested

from . import services
from .models import ACTIVE, ExportJob


@receiver(data_deleting, dispatch_uid="exports.remove_exports_of_deleted_data")
def remove_exports_of_deleted_data(sender: Any, **scope: Any) -> int:
    """Export files holding the data go with it (running jobs are cancelled first)."""
    return services.delete_exports_containing(
        experiment=scope["experiment"], room=scope["room"], participant=scope["participant"]
    )


@receiver(own_copy_requested, dispatch_uid="exports.prepare_own_copy")
def prepare_own_copy(
    sender: Any, data_request: DataRequest, user: Any, request: Any = None, **kwargs: Any
) -> ExportJob:
    """The participant's copy is an export of the experiment owned by their account."""
    try:
        return services.start_export(
            user,
            level="experiment",
            experiment_id=data_request.experiment.public_id,
            for_participant_request=data_request,
            request=request,
        )
    except services.ExportError as exc:
        raise GovernanceError(exc.message) from exc


@receiver(access_ending, dispatch_uid="exports.count_running_exports")
def count_running_exports(
    sender: Any, user: Any = None, experiment: Any = None, key: Any = None, **kwargs: Any
) -> int:
    """Running exports end, denied, when the access they read through goes."""
    jobs = ExportJob.objects.filter(status__in=ACTIVE)
    if key is not None:
        return jobs.filter(api_key=key).count()
    return jobs.filter(user=user, experiment=experiment).count()
