"""Alembic on SQLite, plus the ways the scripts are found and run."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.db.migrate import alembic_config, upgrade
from gmbot.db.tables import metadata
from tests.unit.db.migration_contract import MigrationContract, current_revision, head

REPO_ROOT = Path(__file__).resolve().parents[3]


class TestSqliteMigrations(MigrationContract):
    pass


def test_scripts_are_found_inside_the_package() -> None:
    location = Path(alembic_config().get_main_option("script_location") or "")

    assert location.is_absolute()
    assert (location / "env.py").is_file()
    assert any((location / "versions").glob("0001_*.py"))


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere"
    path.mkdir()
    return path


def entries(path: Path) -> list[Path]:
    return list(path.iterdir())


async def test_upgrade_does_not_depend_on_the_working_directory(
    migration_engine: AsyncEngine, empty_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(empty_dir)

    await upgrade(migration_engine)

    assert await current_revision(migration_engine) == head()
    assert entries(empty_dir) == []  # no alembic.ini needed, no stray ./gmbot.db made


async def test_upgrade_leaves_foreign_keys_enforced(migration_engine: AsyncEngine) -> None:
    await upgrade(migration_engine)

    async with migration_engine.connect() as connection:
        result = await connection.exec_driver_sql("PRAGMA foreign_keys")
        assert result.scalar_one() == 1


def test_alembic_ini_migrates_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer path: `alembic upgrade head` / `alembic check` from the repo root.
    database = tmp_path / "dev.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False

    command.upgrade(config, "head")
    command.check(config)  # raises when autogenerate would find a difference

    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {name for (name,) in rows}
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_offline_sql_for_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    output = io.StringIO()
    config = Config(str(REPO_ROOT / "alembic.ini"), output_buffer=output)
    config.attributes["configure_logger"] = False

    command.upgrade(config, "head", sql=True)

    sql = output.getvalue()
    assert "CREATE TABLE protected_groups" in sql
    assert "chat_id BIGINT NOT NULL" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
    assert "CREATE INDEX ix_channel_links_channel_id" in sql
