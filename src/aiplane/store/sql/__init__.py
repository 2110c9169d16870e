"""The SQL store: SQLite for the embedded mode, PostgreSQL for production.

``SqlStore.open(url)`` connects and upgrades the schema; ``migrate(url)`` only upgrades.
"""

from aiplane.store.sql.engine import make_engine, normalise_url
from aiplane.store.sql.migrate import migrate, upgrade
from aiplane.store.sql.repository import SqlStore

__all__ = ["SqlStore", "make_engine", "migrate", "normalise_url", "upgrade"]
