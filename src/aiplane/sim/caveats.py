"""Caveats about a comparison: cases where its figures, though correct, would mislead."""

from __future__ import annotations

from aiplane.sim.runner import Comparison

NO_CONTENTION = (
    "no job waited in any policy: the trace's load is too light for this fleet to tell "
    "policies apart (try --load-factor or a smaller fleet)"
)


def caveats(comparison: Comparison) -> list[str]:
    """Plain sentences for the report's ``warnings``; empty when there is nothing to say."""
    out: list[str] = []
    records = [r for result in comparison.results.values() for r in result.records]
    # A policy only decides who waits; when every job starts the moment it arrives, every
    # policy produces the same schedule and the table's equal rows say nothing about them.
    if records and all(r.queue_s is not None and r.queue_s <= 0 for r in records):
        out.append(NO_CONTENTION)
    return out
