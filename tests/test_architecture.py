"""The layers hold, and the contracts that say so can fail.

`lint-imports` checks the contracts in pyproject.toml; CI runs it. These tests run it
on the real package, and on copies of it with one forbidden import added, to show
that each contract catches what it is there for.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")
TOP_LEVEL = {"__init__.py", "__main__.py", "cli.py", "examples", "__pycache__"}
ROLES = {"protocol", "transport", "slave", "master", "conformance", "start", "views", "trace"}

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="lint-imports is not installed "
                                "(pip install -e '.[dev]')")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, check=False)


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package and its contracts, with `line` added to `module`."""
    shutil.copytree(ROOT / "zeus_fsm", tmp_path / "zeus_fsm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "zeus_fsm" / module
    path.write_text(path.read_text() + f"\n{line}\n")
    return tmp_path


def test_the_top_level_holds_only_the_cli_and_the_role_subpackages() -> None:
    names = {p.name for p in (ROOT / "zeus_fsm").iterdir()}
    assert names - ROLES <= TOP_LEVEL, names - ROLES - TOP_LEVEL
    assert names >= ROLES


def test_the_contracts_hold() -> None:
    run = lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 kept, 0 broken" in run.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("protocol/messages.py", "import socket", "do no I/O"),
    ("protocol/machine.py", "from zeus_fsm.transport import fds", "do no I/O"),
    ("start/tree.py", "import subprocess", "do no I/O"),
    ("slave/reference.py", "import click", "start-up"),
    ("transport/fds.py", "from zeus_fsm.master import loop", "Layers"),
    ("master/loop.py", "from zeus_fsm.conformance import cases", "Layers"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str,
                                              contract: str) -> None:
    run = lint(copy_with(tmp_path, module, line))
    assert run.returncode != 0, run.stdout
    broken = [row for row in run.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), run.stdout
