"""scripts/services.sh on a machine where pieces are missing, played through PATH.

The script is run with a PATH holding only the basic tools and stand-ins for the servers'
commands, so each test decides what "is installed"; apt-get is a stand-in that records any call,
so no test installs anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"
BASIC_TOOLS = (
    "bash",
    "cat",
    "grep",
    "sed",
    "sort",
    "tail",
    "ls",
    "dirname",
    "basename",
    "seq",
    "sleep",
    "mkdir",
    "env",
)
STAND_INS = {
    "pg_ctlcluster": "exit 0",
    "pg_isready": "exit 0",
    "psql": "echo 1",
    "redis-server": "exit 0",
    "redis-cli": "echo PONG",
}
PIECES = {
    "postgresql": ("pg_ctlcluster", "pg_isready", "psql"),
    "redis-server": ("redis-server", "redis-cli"),
}


def _write(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A bin directory with every piece present; tests take pieces away."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in BASIC_TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    os.symlink(sys.executable, bin_dir / "python3")
    for name, body in STAND_INS.items():
        _write(bin_dir / name, body)
    _write(bin_dir / "id", "echo 0")
    _write(bin_dir / "apt-get", f'echo "$@" >> {tmp_path / "apt-calls"}; exit 1')
    _write(tmp_path / "chromium", "exit 0")
    (tmp_path / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n')

    class Machine:
        root = tmp_path

        def remove(self, piece: str) -> None:
            if piece == "chromium":
                (tmp_path / "chromium").unlink()
            for name in PIECES.get(piece, ()):
                (bin_dir / name).unlink()

        def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
            environ = {
                "PATH": str(bin_dir),
                "CHROMIUM_PATH": str(tmp_path / "chromium"),
                "OS_RELEASE": str(tmp_path / "os-release"),
                **env,
            }
            return subprocess.run(
                [shutil.which("bash"), str(SCRIPT), *args],
                env=environ,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )

        def apt_calls(self) -> str:
            calls = tmp_path / "apt-calls"
            return calls.read_text() if calls.exists() else ""

    return Machine()


def test_it_does_nothing_when_everything_is_there(machine):
    result = machine.run()
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL, Redis and Chromium are there" in result.stdout
    assert machine.apt_calls() == ""


@pytest.mark.parametrize("piece", ["postgresql", "redis-server", "chromium"])
def test_it_names_each_missing_piece_in_a_dry_run(machine, piece):
    machine.remove(piece)
    result = machine.run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would install: apt-get install -y {piece}\n" in result.stdout
    if piece != "chromium":
        assert f"would start: {piece.removesuffix('-server')} on 127.0.0.1" in result.stdout
    assert machine.apt_calls() == ""


def test_a_dry_run_on_a_bare_machine_lists_everything_and_changes_nothing(machine):
    for piece in ("postgresql", "redis-server", "chromium"):
        machine.remove(piece)
    result = machine.run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would install: apt-get install -y postgresql redis-server chromium" in result.stdout
    assert "would start: postgresql on 127.0.0.1" in result.stdout
    assert "would start: redis on 127.0.0.1" in result.stdout
    assert "would create the database hyperstudy" in result.stdout
    assert machine.apt_calls() == ""


def test_it_stops_at_once_with_the_command_to_run_when_not_root(machine):
    machine.remove("chromium")
    _write(machine.root / "bin" / "id", "echo 1000")
    result = machine.run()
    assert result.returncode == 1
    assert f"run:  sudo bash {SCRIPT}" in result.stdout
    assert "apt-get install -y chromium" in result.stdout
    assert machine.apt_calls() == ""


def test_it_stops_at_once_and_names_the_pieces_when_not_debian(machine):
    machine.remove("redis-server")
    (machine.root / "os-release").write_text("ID=fedora\nID_LIKE=rhel\n")
    result = machine.run()
    assert result.returncode == 1
    assert "not Debian" in result.stdout
    assert "missing: redis-server" in result.stdout
    assert "Redis on 127.0.0.1:6379" in result.stdout
    assert machine.apt_calls() == ""


def test_it_refuses_an_unknown_option(machine):
    result = machine.run("--install-everything")
    assert result.returncode == 2
    assert "usage:" in result.stderr
