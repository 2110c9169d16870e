"""Schema upgrades at start-up, driven from code so that no alembic.ini has to ship."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from aiplane.store.sql.engine import make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Any constant works; it only has to be the same in every replica of the control plane.
_PG_MIGRATION_LOCK = 0x616970_6C616E65  # "aiplane"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision; a no-op when it is there already.

    Runs in one transaction. On PostgreSQL, whose DDL is transactional, a failed upgrade leaves
    the schema as it was, and an advisory lock makes replicas that start together take turns
    instead of racing to create the same tables.
    """
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def migrate(url: str | URL) -> None:
    """Upgrade the database at ``url`` to the newest revision."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
