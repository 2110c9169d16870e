"""The endpoints' tables (migration 0008): each endpoint's spec last applied, and the hourly
request counters per endpoint and key.

Declared on ``tables.Base`` (``tables.py`` imports this module, so the metadata that the
migrations are compared with holds these tables too). The spec is one JSON document; what is
looked up or compared (name, team, generation) and the bookkeeping are columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Double, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aiplane.store.sql.tables import Base, id_type, json_type


class EndpointRow(Base):
    __tablename__ = "endpoints"
    __table_args__ = (Index("ix_endpoints_team_name", "team", "name"),)

    name: Mapped[str] = mapped_column(id_type(), primary_key=True)
    team: Mapped[str] = mapped_column(String)
    # What ``put`` compares and sets.
    generation: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str] = mapped_column(String)
    spec: Mapped[dict[str, Any]] = mapped_column(json_type())


class RequestCountRow(Base):
    """One key's requests of one endpoint in one hour. No foreign key to ``endpoints``: the
    counters outlive a deleted endpoint (they are what was served and billed). ``token_id`` is
    "" for no token, so that the primary key names one counter (NULLs would never conflict)."""

    __tablename__ = "endpoint_request_counts"
    __table_args__ = (
        # Serves the range read (every endpoint's counters of some hours).
        Index("ix_endpoint_request_counts_hour", "hour"),
    )

    endpoint: Mapped[str] = mapped_column(id_type(), primary_key=True)
    principal: Mapped[str] = mapped_column(id_type(), primary_key=True)
    token_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    hour: Mapped[float] = mapped_column(Double, primary_key=True)
    team: Mapped[str] = mapped_column(String)
    requests: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    tokens_in: Mapped[int] = mapped_column(BigInteger)
    tokens_out: Mapped[int] = mapped_column(BigInteger)
