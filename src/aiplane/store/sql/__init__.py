"""The SQL store: SQLite for the embedded mode, PostgreSQL for production.

``SqlStore.open(url)`` connects and upgrades the schema; ``migrate(url)`` only upgrades. One
repository module per aggregate (``principals``, ``tokens``, ``audit``, ``fleets``, ``jobs``,
``events``, ``usage``, ``alerts``, ``idempotency``, and the registry's ``models``, ``datasets``
and ``artifacts``), all over the scope ``session.py`` defines; ``store.py`` puts them together.
"""

from aiplane.store.sql.engine import make_engine, normalise_url
from aiplane.store.sql.migrate import migrate, upgrade
from aiplane.store.sql.store import SqlStore

__all__ = ["SqlStore", "make_engine", "migrate", "normalise_url", "upgrade"]
