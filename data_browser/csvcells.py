"""CSV cells as every CSV we write them: the API's ``format=csv`` and the export files.

A cell that a spreadsheet would execute is prefixed with a single quote: one that starts
with a tab or CR, or whose first character after any spaces, tabs, CRs and LFs is a formula
character (``=``, ``+``, ``-``, ``@``, ``|`` or their fullwidth forms U+FF1D, U+FF0B, U+FF0D,
U+FF20 and U+FF5C, which spreadsheets also read as formulas). ``copysql`` applies the same rule
in SQL. Numbers are written as numbers, so a negative onset stays ``-5000``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from . import datatypes as T

FORMULA_CHARACTERS = "=+-@|\uff1d\uff0b\uff0d\uff20\uff5c"
# Skipped before looking for a formula character (a leading tab or CR is dangerous by itself).
LEADING_BLANKS = " \t\r\n"
DANGEROUS_FIRST = "\t\r"
_CHECK_FIRST = frozenset(FORMULA_CHARACTERS + LEADING_BLANKS)
# json.dumps(value, ensure_ascii=False) without building an encoder per call.
_JSON = json.JSONEncoder(ensure_ascii=False).encode


def neutralise(text: str) -> str:
    if not text or text[0] not in _CHECK_FIRST:
        return text
    if text[0] in DANGEROUS_FIRST:
        return "'" + text
    first = text.lstrip(LEADING_BLANKS)[:1]
    return "'" + text if first and first in FORMULA_CHARACTERS else text


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, dict | list):
        # PostgreSQL's text form of jsonb, so that COPY writes the same cell (copysql).
        return neutralise(_JSON(value))
    return neutralise(str(value))


def header(dt: T.DataType) -> list[str]:
    return dt.field_names


def rows(dt: T.DataType, records: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    names = dt.field_names
    for record in records:
        yield [cell(record.get(name)) for name in names]


def deidentified_rows(dt: T.DataType, policy: Any, rows: list[Sequence[Any]]) -> list[list[Any]]:
    """Rows selected with ``policy.columns(dt)`` as the cells ``rows`` writes of the records
    ``policy.records`` makes of them. Labels and text are neutralised by ``policy.rows`` with
    their scrubbing; the database made record codes, times and empty fields, which need no
    neutralising; numbers and empty values are written as they are (``csv`` writes None as an
    empty cell); ids and codes are neutralised here, payloads go through ``cell``."""
    out = policy.rows(dt, rows, neutralise)
    texts, payloads = _CELLS.get(dt.key) or _deidentified_cells(dt)
    for row in out:
        for i in texts:
            value = row[i]
            if value is not None:
                row[i] = neutralise(value)
        for i in payloads:
            row[i] = cell(row[i])
    return out


_CELLS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}


def _deidentified_cells(dt: T.DataType) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The fields ``deidentified_rows`` neutralises, and its payloads (once per type)."""
    ids = (T.EXPERIMENT, T.ROOM, T.PARTICIPANT)
    texts = tuple(i for i, f in enumerate(dt.fields) if f.kind in ids)
    payloads = tuple(i for i, f in enumerate(dt.fields) if f.kind in (T.JSON, T.PARTICIPANT_LIST))
    _CELLS[dt.key] = (texts, payloads)
    return texts, payloads


class Writer:
    """``csv.writer`` with LF line ends that still quotes a cell holding a lone CR.

    Python's writer quotes only the characters of its own line terminator, so with LF ends a
    CR would go out bare and split the row for most readers; PostgreSQL's COPY quotes it.
    Rows with a CR are written with CRLF quoting and then given the LF ending.
    """

    def __init__(self, out: Any) -> None:
        self._out = out
        self._lf = csv.writer(out, lineterminator="\n")
        self._cr_buffer = io.StringIO()
        self._crlf = csv.writer(self._cr_buffer, lineterminator="\r\n")
        self._batch = io.StringIO()
        self._lf_batch = csv.writer(self._batch, lineterminator="\n")

    def writerow(self, row: Sequence[Any]) -> None:
        if any(type(v) is str and "\r" in v for v in row):
            self._crlf.writerow(row)
            text = self._cr_buffer.getvalue()
            self._cr_buffer.seek(0)
            self._cr_buffer.truncate()
            self._out.write(text[:-2] + "\n")
        else:
            self._lf.writerow(row)

    def writerows(self, rows: Iterable[Sequence[Any]]) -> None:
        """The rows at once, by the LF writer into a buffer that goes out as it is unless a
        cell holds a CR (then row by row, as ``writerow``)."""
        rows = rows if isinstance(rows, list) else list(rows)
        self._lf_batch.writerows(rows)
        text = self._batch.getvalue()
        self._batch.seek(0)
        self._batch.truncate()
        if "\r" in text:
            for row in rows:
                self.writerow(row)
        else:
            self._out.write(text)


def stream(dt: T.DataType, records: Iterable[dict[str, Any]], chunk: int = 500) -> Iterator[str]:
    """The CSV text (header first) in pieces, for a streaming response or a file."""
    return stream_cells(dt, rows(dt, records), chunk)


def stream_cells(dt: T.DataType, cells: Iterable[list[Any]], chunk: int = 500) -> Iterator[str]:
    """``stream`` of rows already made cells (``rows``, ``deidentified_rows``)."""
    buffer = io.StringIO()
    writer = Writer(buffer)
    writer.writerow(header(dt))
    cells = iter(cells)
    while batch := list(islice(cells, chunk)):
        writer.writerows(batch)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
