"""Run the retention job now (Celery beat runs the same function daily)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from data_browser.governance.retention import run_retention


class Command(BaseCommand):
    help = "Delete the data of every experiment whose deletion date has passed."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--today",
            help="Run as if today were this date (YYYY-MM-DD); defaults to the real date.",
        )

    def handle(self, *args, today: str | None = None, **options) -> None:
        try:
            day = date.fromisoformat(today) if today else None
        except ValueError:
            raise CommandError(f"--today must be a date as YYYY-MM-DD, got {today!r}") from None
        run = run_retention(today=day)
        if not run.deleted:
            self.stdout.write(f"{run.today}: nothing past its deletion date is left to delete")
        for exp, plan in run.deleted.items():
            self.stdout.write(f"{exp}: deleted {plan.records} records")
