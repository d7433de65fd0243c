from django.urls import path

from data_browser import shell_views

urlpatterns = [
    path("access/", shell_views.pending, {"title": "Access"}, name="access"),
    path("audit/", shell_views.pending, {"title": "Audit log"}, name="audit"),
    path("my-data/", shell_views.pending, {"title": "My data"}, name="my_data"),
]
