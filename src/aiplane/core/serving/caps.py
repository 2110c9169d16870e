"""What a budget's action asks of an endpoint: fewer replicas, or cheaper sites first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplicaCap:
    """The endpoint reconciler keeps each site's replicas at most ``max_replicas_per_site``
    (never below one where the endpoint serves) and, where sites are chosen by placement,
    tries sites of ``prefer_site_kinds`` (``on_prem``, ``edge``) first. ``reason`` names the
    budget and its rule, for the endpoint's status and the audit log."""

    reason: str
    max_replicas_per_site: int | None = None
    prefer_site_kinds: tuple[str, ...] = ()
