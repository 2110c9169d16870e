"""A core fleet back to a fleet document (the resolved form that the store keeps)."""

from __future__ import annotations

from typing import Any

from aiplane.core.accelerators import canonical_name
from aiplane.core.budgets import Budget
from aiplane.core.fleet import Fleet, Pool, Site, Team
from aiplane.specs.fleet import FleetSpec
from aiplane.specs.fleet_models import AUTO
from aiplane.specs.pools import is_auto_node


def fleet_to_document(fleet: Fleet | FleetSpec) -> dict[str, Any]:
    """The resolved fleet as a JSON-ready fleet document: every pool with its full node shape and
    its per-node price (and the price's source), so :func:`fleet_from_document` reads it back to
    an equal fleet without the price catalog. ``accelerator: auto`` nodes stay ``auto``."""
    if isinstance(fleet, FleetSpec):
        fleet = fleet.fleet
    document: dict[str, Any] = {
        "sites": [_site_doc(s) for s in fleet.sites],
        "teams": [_team_doc(t) for t in fleet.teams],
        "datasets": [
            _drop_none(
                {
                    "name": d.name,
                    "site": d.site,
                    "size_gb": d.size_gb,
                    "jurisdiction": d.jurisdiction,
                    "content_hash": d.content_hash,
                    "version": d.version,
                    # The copies besides the primary one, only when there are any, so that
                    # documents without replicas read as before.
                    "replicas": list(d.replicas[1:]) or None,
                }
            )
            for d in fleet.datasets
        ],
    }
    if fleet.budgets:  # only when declared, so documents without budgets read as before
        document["budgets"] = [budget_doc(b) for b in fleet.budgets]
    return document


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _site_doc(site: Site) -> dict[str, Any]:
    return _drop_none(
        {
            "name": site.name,
            "kind": str(site.kind),
            "region": site.region,
            "jurisdiction": site.jurisdiction,
            "provider": site.provider,
            "egress_usd_per_gb": site.egress_usd_per_gb,
            "latency_ms": dict(site.latency_ms),
            "pools": [_pool_doc(p) for p in site.pools],
        }
    )


def _pool_doc(pool: Pool) -> dict[str, Any]:
    n = pool.node
    if is_auto_node(n):
        node: dict[str, Any] = {"accelerator": AUTO, "cpus": n.cpus, "memory_gib": n.memory_gib}
    else:
        node = _drop_none(
            {
                "instance_type": pool.instance_type,
                "accelerator": n.accelerator,
                "gpus": n.gpus,
                "cpus": n.cpus,
                "memory_gib": n.memory_gib,
            }
        )
        if n.accelerator is not None and canonical_name(n.accelerator) != n.accelerator:
            node["custom_accelerator"] = True  # e.g. a detected GPU aiplane has no entry for
    nodes: Any = (
        pool.nodes_min if not pool.elastic else {"min": pool.nodes_min, "max": pool.nodes_max}
    )
    backend_config = {"backend_config": dict(pool.backend_config)} if pool.backend_config else {}
    return {
        "name": pool.name,
        "backend": pool.backend,
        **backend_config,  # only when given, so documents without it read as before
        "nodes": nodes,
        "node": node,
        "pricing": {
            "model": str(pool.pricing.model),
            "usd_per_node_hour": pool.pricing.usd_per_node_hour,
            "interruption_rate_per_hour": pool.pricing.interruption_rate_per_hour,
            "source": pool.pricing.source,
            **_commitment_doc(pool),
        },
    }


def _commitment_doc(pool: Pool) -> dict[str, Any]:
    p = pool.pricing
    if p.reserved_gpu_hours_per_month <= 0 and p.reserved_usd_per_gpu_hour is None:
        return {}
    return _drop_none(
        {
            "reserved_gpu_hours_per_month": p.reserved_gpu_hours_per_month,
            "reserved_usd_per_gpu_hour": p.reserved_usd_per_gpu_hour,
        }
    )


def budget_doc(budget: Budget) -> dict[str, Any]:
    webhook = None
    if budget.webhook is not None:
        w = budget.webhook
        webhook = _drop_none({"url": w.url, "secret": w.secret, "secret_env": w.secret_env})
    return _drop_none(
        {
            "name": budget.name,
            str(budget.scope): budget.target,
            "period": str(budget.period),
            "amount_usd": budget.amount_usd,
            "rules": [
                _drop_none(
                    {"kind": str(r.kind), "at": r.at, "basis": str(r.basis), "replicas": r.replicas}
                )
                for r in budget.rules
            ],
            "webhook": webhook,
        }
    )


def _team_doc(team: Team) -> dict[str, Any]:
    return _drop_none(
        {
            "name": team.name,
            "cohort": team.cohort,
            "quota": dict(team.quota),
            "borrowing_limit": dict(team.borrowing_limit),
            "lending_limit": dict(team.lending_limit),
            "budget_usd_per_month": team.budget_usd_per_month,
        }
    )
