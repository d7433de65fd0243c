"""Recompute the audit log's hash chain; exit non-zero and name every entry that does not hold."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from data_browser.audit import verify_chain
from data_browser.models import AuditEntry


class Command(BaseCommand):
    help = "Verify that no audit entry was altered or removed (exit status 1 if one was)."

    def handle(self, *args, **options) -> None:
        problems = list(verify_chain())
        if problems:
            for line in problems:
                self.stderr.write(line)
            raise CommandError(f"the audit chain is broken: {len(problems)} problem(s) found")
        count = AuditEntry.objects.count()
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} entries verified"))
