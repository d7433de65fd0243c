"""Every Celery worker looks for lost exports from its main process.

Not a Celery beat task: a task waits for a free pool process behind every export already
queued (and one that expires there is dropped), so the moment workers are busiest is when
such a look would come last, and it would need exactly one beat running. Each worker runs
``recover_lost_exports`` on its own timer instead, in its main process (which never runs
exports), as the readiness heartbeat of ``hyperstudy_dash.health`` does. Several workers
looking at once is harmless: each job is re-checked under its row lock before anything changes.
"""

from __future__ import annotations

import logging

from celery import bootsteps

log = logging.getLogger(__name__)


class LostExportWatch(bootsteps.StartStopStep):
    """Runs ``exports.tasks.recover_lost_exports`` every ``EXPORT_HEARTBEAT_SECONDS``."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        self.timer_ref = None

    def start(self, worker) -> None:
        from django.conf import settings

        self.timer_ref = worker.timer.call_repeatedly(
            settings.EXPORT_HEARTBEAT_SECONDS, self._look, priority=10
        )

    def stop(self, worker) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None

    def _look(self) -> None:
        from django.db import connections

        from .tasks import recover_lost_exports

        try:
            outcomes = recover_lost_exports()
            if any(outcomes.values()):
                log.warning("lost exports: %s", outcomes)
        except Exception:  # the database is down: the next look tries again
            log.warning("could not look for lost exports", exc_info=True)
        finally:
            # No connection stays open in the main process, which forks pool processes.
            connections.close_all()
