"""Count the records again into the kept counts (after records were written around the product)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from data_browser.counts import recount
from data_browser.models import Experiment


class Command(BaseCommand):
    help = (
        "Recount the records per room, participant and data type from the record tables, for "
        "the given experiments or all of them (the unfiltered totals of the API and the "
        "dashboard read these counts)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "experiments", nargs="*", metavar="EXPERIMENT", help="experiment ids (default: all)"
        )

    def handle(self, *args, experiments: list[str], **options) -> None:
        ids = None
        if experiments:
            found = dict(
                Experiment.objects.filter(public_id__in=experiments).values_list("public_id", "pk")
            )
            missing = sorted(set(experiments) - set(found))
            if missing:
                raise CommandError(f"no experiment with the id {', '.join(missing)}")
            ids = list(found.values())
        counted = recount(ids)
        scope = f"{len(ids)} experiment(s)" if ids is not None else "all experiments"
        self.stdout.write(self.style.SUCCESS(f"{counted} records counted in {scope}"))
