"""Signed, expiring links to recording media.

With local storage the link points at ``media_download``, which checks the
signature and its age; with S3-compatible storage it is the store's own
presigned URL. Either works for a script with no session cookie.
"""

from __future__ import annotations

import posixpath

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from . import downloads
from .models import Recording

_SALT = "hyperstudy.recording-media"


def _is_local() -> bool:
    return not settings.AWS_STORAGE_BUCKET_NAME


def _store_url(name: str) -> str:
    """The store's presigned link, which also tells the store how to name the download."""
    disposition = downloads.content_disposition(posixpath.basename(name))
    return default_storage.url(name, parameters={"ResponseContentDisposition": disposition})


def signed_path(file_name: str | None) -> str | None:
    if not file_name:
        return None
    if not _is_local():
        return _store_url(file_name)
    token = signing.TimestampSigner(salt=_SALT).sign(file_name)
    return reverse("data_browser:media", args=[signing.b64_encode(token.encode()).decode()])


def signed_url(request: HttpRequest | None, file_name: str | None) -> str | None:
    path = signed_path(file_name)
    if path is None or request is None or path.startswith("http"):
        return path
    return request.build_absolute_uri(path)


def media_download(request: HttpRequest, token: str) -> HttpResponse:
    try:
        signed = signing.b64_decode(token.encode()).decode()
        name = signing.TimestampSigner(salt=_SALT).unsign(
            signed, max_age=settings.SIGNED_URL_MAX_AGE
        )
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        raise Http404("This link is invalid or has expired") from None
    recording = Recording.objects.filter(file=name).only("file", "format", "record_id").first()
    if recording is None or not default_storage.exists(name):
        raise Http404("This recording no longer exists")
    if not _is_local():
        return redirect(_store_url(name))
    filename = f"{recording.record_id}.{recording.format or 'bin'}"
    return downloads.file_response(default_storage.open(name, "rb"), filename)
