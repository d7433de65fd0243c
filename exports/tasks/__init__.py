"""The Celery tasks that build exports. Each takes a row id and re-reads the row.

They are idempotent, because ``acks_late`` + ``reject_on_worker_lost`` deliver a
task again when its worker dies: a finished job is left alone, a job found
"running" by a live worker (fresh heartbeat) is left to it, a job whose worker is
gone is restarted from scratch (up to ``EXPORT_MAX_ATTEMPTS``), and a file only
becomes downloadable once it is complete in storage and the row says so.
Cancel is the row's ``cancel_requested`` flag, read between chunks.

``jobs`` runs a job (claim, pieces, assembly, storage), ``rights`` asks whether it may still
read, ``recovery`` notices lost workers, ``purge`` is beat's clean-up, ``common`` is how a
job's row ends. Importing the package registers every task under the name it had when this
was one module (``exports.tasks.run_export`` …): queued messages and the beat schedule use it.
"""

from __future__ import annotations

from .jobs import assemble_export, build_piece, run_export
from .purge import purge_expired_exports
from .recovery import cancel_lost, recover_lost_exports

__all__ = [
    "assemble_export",
    "build_piece",
    "cancel_lost",
    "purge_expired_exports",
    "recover_lost_exports",
    "run_export",
]
