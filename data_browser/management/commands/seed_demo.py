from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from data_browser.demo import ACCOUNTS, SCALES, seed


class Command(BaseCommand):
    help = "Load the deterministic demo lab, accounts and data (safe to run again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", choices=sorted(SCALES), default="small")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, scale: str, seed: int, **options) -> None:
        started = time.monotonic()
        counts = seed_and_log(self, scale, seed)
        took = time.monotonic() - started
        added = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing new"
        self.stdout.write(f"Demo data ({scale}, seed {seed}) ready in {took:.1f}s: {added}.")
        self.stdout.write(f"Demo logins (password {settings.DEMO_PASSWORD!r}):")
        for username, what in ACCOUNTS.items():
            self.stdout.write(f"  {username:<13} {what}")


def seed_and_log(command: BaseCommand, scale: str, seed_value: int) -> dict:
    return seed(scale, seed_value, log=lambda line: command.stdout.write(f"  {line}"))
