"""Governance test helpers: a private copy of the media files (deletion removes files, which
a rolled-back transaction would not bring back) and exports run in-process."""

from __future__ import annotations

import pytest


@pytest.fixture
def private_media(settings, tmp_path):
    """A storage of this test's own holding a file for every recording row."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from data_browser.models import Recording

    target = tmp_path / "media"
    target.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(target)},
        },
    }
    settings.MEDIA_ROOT = str(target)
    for name in Recording.objects.exclude(file="").values_list("file", flat=True):
        default_storage.save(name, ContentFile(b"\x1a\x45\xdf\xa3 test media"))
    return target


@pytest.fixture
def eager():
    from hyperstudy_dash.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before
