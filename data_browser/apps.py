from django.apps import AppConfig


class DataBrowserConfig(AppConfig):
    name = "data_browser"
    verbose_name = "Data browser"

    def ready(self) -> None:
        from . import counts  # noqa: F401  (counts the records saved one by one)
        from .governance import signals  # noqa: F401  (connects the sign-in audit)
