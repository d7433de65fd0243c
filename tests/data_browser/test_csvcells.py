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


# Issue 13, item 7: cells that still ran in a spreadsheet.
HIDDEN_FORMULAS = (
    ' =HYPERLINK("http://x")',
    "  +1",
    "\n=cmd|' /C calc'!A0",
    "\r\n@SUM(A1)",
    " \t -2",
    "\uff1dSUM(A1)",  # fullwidth =
    "\uff0b1",
    "\uff0d1",
    "\uff20x",
    "|calc",
    "  \uff5ccalc",
)


def test_an_attacker_cannot_hide_a_formula_behind_blanks_or_fullwidth_forms():
    for text in HIDDEN_FORMULAS:
        assert csvcells.cell(text) == "'" + text, repr(text)
        assert csvcells.cell({"v": text}) != text  # JSON cells start with { anyway
    written = "".join(csvcells.stream(T.CHAT, [{"content": t} for t in HIDDEN_FORMULAS]))
    cells = [row["content"] for row in csv.DictReader(io.StringIO(written, newline=""))]
    assert cells == ["'" + t for t in HIDDEN_FORMULAS]


def test_harmless_cells_stay_as_they_are():
    for text in ("   ", "\n", " hello", "a=b", "x|y", "\u3000=1", "'quoted", "e-mail"):
        assert csvcells.cell(text) == text, repr(text)
