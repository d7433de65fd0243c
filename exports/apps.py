from __future__ import annotations

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "Exports"

    def ready(self) -> None:
        """Exports builds on the data browser, never the other way round: it adds its endpoints
        to the data browser's API and removes its files when data is deleted (a signal)."""
        from data_browser.api.views import api

        from . import receivers  # noqa: F401  (connects to data_browser.signals)
        from .api import router

        api.add_router("/exports", router)
