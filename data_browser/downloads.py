"""The ``Content-Disposition`` of every file the product sends, built in one place.

File names are made from ids that people choose (experiments, rooms, record ids), so a
name may hold quotes, semicolons, line breaks, path separators or any Unicode. Django's
``content_disposition_header`` gives either a quoted ``filename`` or ``filename*``, not
both, and keeps control characters in the encoded form; RFC 6266 asks for an ASCII
fallback that every client reads plus ``filename*=UTF-8''…`` for the real name, so the
header is built here.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from typing import IO
from urllib.parse import quote

from django.http import FileResponse, HttpResponseBase

_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL_OR_SEPARATOR = re.compile(r"[\x00-\x1f\x7f/\\]+")


def _clean(filename: str) -> str:
    """The name without control characters or path separators, and never hidden or empty."""
    name = _CONTROL_OR_SEPARATOR.sub("_", unicodedata.normalize("NFC", filename)).strip(" .")
    return name or "download"


def ascii_fallback(filename: str) -> str:
    """Letters, digits, ``.``, ``_`` and ``-`` only: accents are dropped, anything else is ``_``."""
    decomposed = unicodedata.normalize("NFKD", _clean(filename))
    ascii_only = decomposed.encode("ascii", "ignore").decode()
    return _UNSAFE_ASCII.sub("_", ascii_only).strip("._") or "download"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """``attachment; filename="<ASCII>"; filename*=UTF-8''<percent-encoded name>``."""
    kind = "inline" if inline else "attachment"
    encoded = quote(_clean(filename), safe="")
    return f"{kind}; filename=\"{ascii_fallback(filename)}\"; filename*=UTF-8''{encoded}"


def attach(response: HttpResponseBase, filename: str) -> HttpResponseBase:
    """Mark ``response`` as a download named ``filename``."""
    response["Content-Disposition"] = content_disposition(filename)
    return response


def file_response(file: IO[bytes], filename: str) -> FileResponse:
    """A streamed file download named ``filename`` (its type guessed from the name)."""
    content_type = mimetypes.guess_type(ascii_fallback(filename))[0] or "application/octet-stream"
    response = FileResponse(file, content_type=content_type)
    attach(response, filename)
    return response
