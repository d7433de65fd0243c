from django.apps import AppConfig


class DataBrowserConfig(AppConfig):
    name = "data_browser"
    verbose_name = "Data browser"
