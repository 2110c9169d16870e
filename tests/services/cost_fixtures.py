"""A fleet with an owned, a reserved and a spot pool, teams with budgets, and usage."""

from __future__ import annotations

from typing import Any

from aiplane.core.cost.usage import UsageInterval
from aiplane.store.memory import MemoryStore
from tests.services.fleets import apply_fleet

JUNE = 1_748_736_000.0  # 2025-06-01T00:00:00Z
HOUR = 3600.0
DAY = 24 * HOUR


def fleet_document(budgets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "sites": [
            {
                "name": "fra",
                "kind": "onprem",
                "region": "eu-central",
                "jurisdiction": "EU",
                "pools": [
                    {
                        "name": "dgx",
                        "backend": "emulated",
                        "nodes": 1,
                        "node": {"accelerator": "H100", "gpus": 8, "cpus": 96, "memory_gib": 1024},
                        "pricing": {"model": "owned", "usd_per_gpu_hour": 1.0},
                    }
                ],
            },
            {
                "name": "gcp",
                "kind": "cloud",
                "provider": "gcp",
                "region": "us-central1",
                "jurisdiction": "US",
                "pools": [
                    {
                        "name": "spot",
                        "backend": "emulated",
                        "nodes": 4,
                        "node": {"accelerator": "H100", "gpus": 8, "cpus": 96, "memory_gib": 1024},
                        "pricing": {"model": "spot", "usd_per_gpu_hour": 2.0},
                    }
                ],
            },
        ],
        "teams": [
            {"name": "research", "budget_usd_per_month": 10_000},
            {"name": "infra"},
        ],
        "budgets": budgets or [],
    }


def usage(
    run: str,
    start: float,
    hours: float,
    *,
    team: str = "research",
    pool: str = "gcp/spot",
    usd_per_hour: float = 16.0,
    **changes: Any,
) -> UsageInterval:
    fields: dict[str, Any] = {
        "run_id": run,
        "job_id": "j" + run[1:],
        "attempt": 1,
        "team": team,
        "workload": changes.pop("workload", "train"),
        "site": pool.split("/")[0],
        "pool": pool,
        "pricing": "owned" if pool == "fra/dgx" else "spot",
        "accelerator": "H100-80GB",
        "gpus": 8.0,
        "start": start,
        "end": start + hours * HOUR,
        "usd_per_hour": usd_per_hour,
    }
    fields.update(changes)
    return UsageInterval(**fields)


def store_with(budgets: list[dict[str, Any]] | None = None, at: float = JUNE) -> MemoryStore:
    store = MemoryStore()
    apply_fleet(store, fleet_document(budgets), at)
    return store
