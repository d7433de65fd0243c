"""The PostgreSQL SELECT whose ``COPY … TO STDOUT (FORMAT csv)`` equals our Python CSV writer.

``api_select_sql(dt, queryset)`` turns a scoped queryset (it must come from
``data_browser.access``) into SQL that yields exactly the API columns of a
data type, already formatted the way ``csvcells`` + ``datatypes.to_records``
write them: timestamps as ISO 8601 UTC with milliseconds and ``Z``, JSON as
jsonb's own text (``{"a": 1}``, the same as Python's ``json.dumps``), floats as
Python prints them (``1.0``, ``-0.25``), text cells neutralised against
spreadsheet formulas, empty strings as empty cells. The database then does the
formatting in C, which is what makes COPY exports fast.

``header_line(dt)`` is the header; ``copy_select`` streams the rows into a writer,
``copy_blocks`` and ``copy_messages`` yield them. Types with a field that is made when read
(a recording's signed ``downloadUrl``) cannot be produced in SQL: check
``copy_supported(dt)`` and use the Python writer for those.

Known differences from the Python writer, all outside what ingest produces: a
text cell holding a lone CR or exactly ``\\.`` is quoted by PostgreSQL only;
non-integral floats of 10^15 or more and NaN/Infinity print differently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import F, Func, QuerySet, TextField

from . import datatypes as T
from .csvcells import DANGEROUS_FIRST, FORMULA_CHARACTERS, LEADING_BLANKS

# Code points for ascii(): an integer test, about a fifth cheaper per COPY than comparing
# left(cell, 1) with strings. Only a cell that starts with a blank is trimmed and tested again.
_FORMULA = ", ".join(str(ord(c)) for c in FORMULA_CHARACTERS)
_DANGEROUS_FIRST = ", ".join(str(ord(c)) for c in FORMULA_CHARACTERS + DANGEROUS_FIRST)
_BLANK_FIRST = ", ".join(str(ord(c)) for c in LEADING_BLANKS if c not in DANGEROUS_FIRST)
_BLANKS = "E'" + LEADING_BLANKS.encode("unicode_escape").decode() + "'"
# Bytes of COPY output handed on at a time.
COPY_BLOCK = 256 * 1024


def _neutralised(text: str) -> str:
    """``csvcells.neutralise`` of the SQL text expression ``text``; '' becomes NULL (an empty
    CSV cell)."""
    quoted = f"'''' || {text}"
    return (
        f"CASE WHEN ascii({text}) IN ({_DANGEROUS_FIRST}) THEN {quoted} "
        f"WHEN ascii({text}) IN ({_BLANK_FIRST}) "
        f"AND ascii(ltrim({text}, {_BLANKS})) IN ({_FORMULA}) THEN {quoted} "
        f"ELSE NULLIF({text}, '') END"
    )


class _Repeated(Func):
    """A Func whose template names its one argument several times (params repeat with it)."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra):
        arg_sql, arg_params = compiler.compile(self.source_expressions[0])
        times = self.template.count("%(expressions)s")
        return self.template % {"expressions": arg_sql}, tuple(arg_params) * times


class _Neutralised(_Repeated):
    """Text as ``csvcells.neutralise`` writes it; '' becomes NULL (an empty CSV cell)."""

    template = _neutralised("%(expressions)s")


class IsoUtc(_Repeated):
    """A timestamp as ISO 8601 UTC with milliseconds and Z, as the API writes it."""

    template = "to_char((%(expressions)s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"


class _PythonFloat(_Repeated):
    """float8 as Python's repr: PostgreSQL prints 1 where Python prints 1.0."""

    template = (
        "CASE WHEN %(expressions)s <> trunc(%(expressions)s) OR abs(%(expressions)s) >= 1e16 "
        "THEN (%(expressions)s)::text "
        "WHEN abs(%(expressions)s) < 1e15 THEN (%(expressions)s)::text || '.0' "
        "ELSE (%(expressions)s)::numeric::bigint::text || '.0' END"
    )


_TEXT = "(%(expressions)s #>> '{}')"


class _JsonCell(_Repeated):
    """jsonb as ``csvcells.cell`` writes the decoded value: objects and arrays as jsonb's own
    text (which is Python's ``json.dumps``), a top-level string as its neutralised text,
    numbers and booleans as they are, JSON null as an empty cell."""

    template = (
        f"CASE jsonb_typeof(%(expressions)s) "
        f"WHEN 'string' THEN {_neutralised(_TEXT)} "
        f"WHEN 'null' THEN NULL ELSE (%(expressions)s)::text END"
    )


def copy_supported(dt: T.DataType) -> bool:
    """Whether every field of ``dt`` can be produced by the database."""
    return all(f.kind != T.URL for f in dt.fields)


def _expression(f: T.Field):
    column = F(f.column)
    if f.kind == T.DATETIME:
        return IsoUtc(column)
    if f.kind == T.FLOAT:
        return _PythonFloat(column)
    if f.kind == T.INT:
        return column
    if f.kind in (T.JSON, T.PARTICIPANT_LIST):
        return _JsonCell(column)
    if f.kind == T.URL:
        raise ValueError(f"{f.name} is made when read; use the Python writer for this type")
    return _Neutralised(column)


def api_select_sql(dt: T.DataType, queryset: QuerySet) -> tuple[str, tuple]:
    """SQL and params selecting the API columns of ``dt`` for the rows of ``queryset``.

    The queryset's filters and ordering are kept (order it before calling if the
    file should be sorted). The SQL is written for the queryset's database.
    """
    exprs = [_expression(f) for f in dt.fields]
    query = queryset.values_list(*exprs).query
    sql, params = query.get_compiler(using=queryset.db).as_sql()
    return sql, tuple(params)


def header_line(dt: T.DataType) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(dt.field_names)
    return buffer.getvalue().encode()


def blocks(rows: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    """COPY rows joined into blocks of about ``COPY_BLOCK`` bytes: passing each row on by itself
    would cost a call chain per row (hashing, compressing, writing) where one per block
    suffices."""
    block = bytearray()
    for row in rows:
        block += row
        if len(block) >= COPY_BLOCK:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


@contextmanager
def _copy_out(sql: str, params: tuple, connection) -> Iterator[tuple[Any, Any]]:
    """The psycopg cursor and its ``COPY (sql) TO STDOUT (FORMAT csv)``."""
    connection.ensure_connection()
    with (
        connection.connection.cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy,
    ):
        yield cursor, copy


def copy_messages(sql: str, params: tuple, *, connection) -> Iterator[memoryview]:
    """``COPY (sql) TO STDOUT (FORMAT csv)`` as the server sends it: one message per row (the
    protocol's rule), so a caller that knows row counts can cut the stream without parsing
    CSV. Closing the iterator early cancels the COPY."""
    with _copy_out(sql, params, connection) as (_cursor, copy):
        yield from copy


def copy_blocks(sql: str, params: tuple, *, connection) -> Iterator[bytes]:
    """``COPY (sql) TO STDOUT (FORMAT csv)`` as blocks of about ``COPY_BLOCK`` bytes."""
    return blocks(copy_messages(sql, params, connection=connection))


def copy_select(sql: str, params: tuple, write: Callable[[bytes], object], *, connection) -> int:
    """``COPY (sql) TO STDOUT (FORMAT csv)`` into ``write``, for a statement from
    ``api_select_sql`` (a caller may compile it once and vary its params); returns the row
    count."""
    with _copy_out(sql, params, connection) as (cursor, copy):
        for block in blocks(copy):
            write(block)
        return cursor.rowcount  # read before the cursor closes
