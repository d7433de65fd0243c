"""Create an API key from the command line; the key is the last line printed."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from data_browser import datatypes as T
from data_browser.api import keys


class Command(BaseCommand):
    help = "Create an API key for a user and print it (shown once; store it safely)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username of the key's owner")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"comma-separated scopes: {', '.join(T.KEY_SCOPES)}",
        )
        parser.add_argument("--expires-days", type=int, default=None, help="expire after N days")
        parser.add_argument("--name", default="command-line key", help="a name to recognise it")

    def handle(self, *args, user: str, scopes: str, expires_days: int | None, name: str, **kw):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"There is no user {user!r}.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        try:
            key, raw = keys.create_key(
                owner,
                name=name,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                expires_at=expires_at,
            )
        except keys.InvalidKeyRequest as exc:
            raise CommandError(str(exc)) from None
        expiry = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ""
        self.stdout.write(f"API key {key.name!r} for {user} ({', '.join(key.scopes)}{expiry}):")
        self.stdout.write(raw)
