"""Rows made in bulk for tests that need volume (slow enough exports to watch or cancel)."""

from __future__ import annotations

from datetime import timedelta

from data_browser.models import Event


def bulk_events(world, n: int, prefix: str = "bulk") -> None:
    """``n`` events of the world's participant in the world's room, 10 ms apart."""
    start = world.room.started_at
    Event.objects.bulk_create(
        (
            Event(
                record_id=f"{prefix}_{i}",
                experiment=world.experiment,
                room=world.room,
                participant=world.participant,
                timestamp=start + timedelta(milliseconds=i * 10),
                onset=i * 10,
                event_type="rating.change",
                content=f"Slider moved by participant {world.participant.public_id}",
                response={"value": i},
            )
            for i in range(n)
        ),
        batch_size=5000,
    )
