"""What an alias held, and when: a model's production history from its alias moves.

Pure: the service loads the model's ``AliasMove``s. A move is in force from its ``at`` (a move
exactly at T is in force at T) until the alias's next move; before its first move an alias
held nothing. A removal (``version`` None) is a period too: it says who removed the alias.
Moves at the same instant keep the order they were given in (the store's order): the last one
is in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiplane.core.registry.records import AliasMove


@dataclass(frozen=True)
class Holding:
    """One period of an alias: ``version`` (None: removed) from ``since`` until ``until``
    (None: still in force), moved there by ``by`` with ``approvals``."""

    alias: str
    version: int | None
    since: float
    until: float | None
    by: str
    approvals: tuple[str, ...]
    previous: int | None
    move_id: str

    @property
    def removed(self) -> bool:
        return self.version is None

    def in_force_at(self, at: float) -> bool:
        return self.since <= at and (self.until is None or at < self.until)


def timeline(moves: Iterable[AliasMove], alias: str) -> list[Holding]:
    """The alias's periods, oldest first. Moves at the same instant leave periods of no
    length (``since == until``) for all but the last: they happened, and were superseded."""
    ordered = sorted((m for m in moves if m.alias == alias), key=lambda m: m.at)
    out = []
    for i, move in enumerate(ordered):
        until = ordered[i + 1].at if i + 1 < len(ordered) else None
        out.append(
            Holding(
                alias=alias,
                version=move.version,
                since=move.at,
                until=until,
                by=move.by,
                approvals=move.approvals,
                previous=move.previous,
                move_id=move.move_id,
            )
        )
    return out


def held_at(moves: Iterable[AliasMove], alias: str, at: float) -> Holding | None:
    """The period in force at ``at``; None before the alias's first move. A removal in force
    is returned as such (``removed``): the alias held nothing, and this says who removed it."""
    found = None
    for holding in timeline(moves, alias):
        if holding.since > at:
            break
        found = holding
    return found


def aliases_at(moves: Iterable[AliasMove], at: float) -> dict[str, Holding]:
    """Every alias of the model that held a version at ``at``, by name."""
    collected = list(moves)
    out = {}
    for alias in sorted({m.alias for m in collected}):
        holding = held_at(collected, alias, at)
        if holding is not None and not holding.removed:
            out[alias] = holding
    return out
