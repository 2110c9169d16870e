"""Alembic migrations, run by ``aiplane.store.sql.migrate`` at start-up (no alembic.ini)."""
