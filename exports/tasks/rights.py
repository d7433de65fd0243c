"""Whether a running job may still read what it exports, asked again while it runs."""

from __future__ import annotations

from data_browser import access
from data_browser import datatypes as T
from data_browser.models import ExportRight

from ..models import SELF, ExportJob


class AccessWithdrawn(Exception):
    """The job's user or key may no longer read what it exports: it ends "denied"."""


def withdrawn(job_id: int) -> str | None:
    """Why the job may no longer read its data (None: it may), asked of its user's rights
    and the key it was started with *now*, re-read from the database: the job's own row may
    be older than a revocation."""
    job = (
        ExportJob.objects.select_related("user", "api_key", "experiment", "data_request")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        return None  # deleted: the cancel check ends it
    if not job.user.is_active:
        return "the account that started it is deactivated"
    if job.started_with_key and (job.api_key is None or not job.api_key.is_active):
        return "the API key that started it was revoked, has expired or was deleted"
    reader = access.for_job(job)
    if job.anonymization == SELF:
        request = job.data_request
        if request is None or request.status != request.Status.APPROVED:
            return "the data request is no longer approved"
        return None
    if not reader.experiments().filter(pk=job.experiment_id).exists():
        return "the account is no longer a member of the experiment"
    if not reader.can_export(job.experiment, job.anonymization):
        right = dict(ExportRight.choices)[reader.export_right(job.experiment)]
        return f"the export right on the experiment is now “{right}”"
    if not all(reader.allows(T.BY_KEY[k].scope) for k in job.data_types if k in T.BY_KEY):
        return "the API key no longer has the scopes of its data types"
    return None


def require_access(job_id: int) -> None:
    reason = withdrawn(job_id)
    if reason is not None:
        raise AccessWithdrawn(
            f"Access withdrawn: {reason}. The export was stopped; no file was kept."
        )
