"""The CSV cell rules every CSV of the product follows."""

from __future__ import annotations

import csv
import io

from data_browser import csvcells
from data_browser import datatypes as T


def test_it_neutralises_cells_a_spreadsheet_would_execute():
    for text in ("=SUM(A1)", "+1", "-cmd", "@x", "\tx", "\rx"):
        assert csvcells.cell(text) == "'" + text
    assert csvcells.cell("fine = ok") == "fine = ok"
    assert csvcells.cell(-5000) == -5000  # numbers stay numbers, negative onsets included
    assert csvcells.cell({"a": "=1"}) == '{"a": "=1"}'
    assert csvcells.cell(None) == ""


def test_it_keeps_rows_whole_when_a_cell_holds_line_breaks():
    records = [
        {"messageId": "m1", "content": "line one\rline two", "senderId": "u1"},
        {"messageId": "m2", "content": "a\r\nb\nc", "senderId": "u2"},
        {"messageId": "m3", "content": "plain", "senderId": "u3"},
    ]
    text = "".join(csvcells.stream(T.CHAT, records))
    assert "\r\n" not in text.replace("a\r\nb", "")  # rows end with LF
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["content"] for row in parsed] == ["line one\rline two", "a\r\nb\nc", "plain"]
