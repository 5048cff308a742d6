"""The layer contracts in pyproject.toml ([tool.importlinter]) hold, and each one bites.

`make lint` runs the same check; running it here too makes `make test` fail when a layer is
broken. Each contract is also run against a copy of the packages with one forbidden import
planted, so a contract that silently matches nothing (a renamed package, a typo) fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import importlinter  # noqa: F401  (comes with the dev lock: a missing one fails, never skips)
import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("gmbot", "bot_api_emulator")

LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on `root` (holding pyproject.toml and src/) in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """pyproject.toml and the source packages, without the vendored data or bytecode."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(
            REPO / "src" / package,
            tmp_path / "src" / package,
            ignore=shutil.ignore_patterns("__pycache__", "data"),
        )
    return tmp_path


def test_the_contracts_hold_on_the_code() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("gmbot/domain/planted.py", "import gmbot.config", "The domain imports nothing else"),
        ("gmbot/domain/planted.py", "import bot_api_emulator", "The domain imports nothing else"),
        ("gmbot/services/planted.py", "import aiogram", "Services reach frameworks"),
        ("gmbot/services/planted.py", "import sqlmodel", "Services reach frameworks"),
        ("gmbot/services/planted.py", "import redis.asyncio", "Services reach frameworks"),
        ("gmbot/services/planted.py", "import aiohttp", "Services reach frameworks"),
        ("gmbot/bot/planted.py", "from sqlalchemy import select", "Routers run no SQL"),
        ("gmbot/bot/planted.py", "import redis", "Routers run no SQL"),
        ("gmbot/services/planted.py", "import gmbot.bot", "Routers call services"),
        ("gmbot/web/planted.py", "import bot_api_emulator", "Only the demo imports"),
        ("bot_api_emulator/planted.py", "import gmbot.domain", "The emulator imports nothing"),
    ],
)
def test_a_planted_import_breaks_its_contract(
    tree_copy: Path, module: str, planted: str, contract: str
) -> None:
    (tree_copy / "src" / module).write_text(f"{planted}\n", encoding="utf-8")
    result = lint_imports(tree_copy)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
