"""The data browser is the base the exports app builds on: exports imports data_browser, never
the other way round (exports adds its API router and template tags itself, and answers the
data browser's signals). An import of exports anywhere under data_browser, even one inside a
function, brings the cycle back."""

from __future__ import annotations

import ast
from pathlib import Path

import data_browser

ROOT = Path(data_browser.__file__).parent


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def test_it_finds_the_modules_a_file_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import exports.tasks\n"
        "def f():\n"
        "    from exports.services import jobs_for\n"
        "    importlib.import_module('exports.writers')\n"
    )
    assert [name for _, name in imported_modules(sample)] == [
        "exports.tasks",
        "exports.services",
        "exports.writers",
    ]


def test_no_module_of_data_browser_imports_exports():
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 40  # the walk did find the app
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{line} imports {name}"
        for path in files
        for line, name in imported_modules(path)
        if name == "exports" or name.startswith("exports.")
    ]
    assert offenders == []
