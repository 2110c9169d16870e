"""Persistence adapters: in-memory, and SQL (SQLite, PostgreSQL) through SQLAlchemy."""
