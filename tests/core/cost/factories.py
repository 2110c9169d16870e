"""Usage intervals and fleets for the cost engine's tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiplane.core.cost.usage import UsageInterval
from aiplane.core.fleet import Fleet, PricingModel, SiteKind
from tests import builders as b

JUNE = 1_748_736_000.0  # 2025-06-01T00:00:00Z, a Sunday
JULY = 1_751_328_000.0  # 2025-07-01T00:00:00Z
HOUR = 3600.0


def interval(
    run: str = "r1",
    *,
    start: float = JUNE,
    hours: float = 1.0,
    pool: str = "cloud/spot",
    pricing: str = "spot",
    **changes: Any,
) -> UsageInterval:
    u = UsageInterval(
        run_id=run,
        job_id="j" + run[1:],
        attempt=1,
        team="research",
        workload="train",
        site=pool.split("/")[0],
        pool=pool,
        pricing=pricing,
        accelerator="H100-80GB",
        gpus=8.0,
        start=start,
        end=start + hours * HOUR,
        usd_per_hour=16.0,
    )
    return replace(u, **changes)


def fleet() -> Fleet:
    """An owned pool (2 nodes x 8 GPUs at $8/node-hour), a reserved pool with a commitment of
    100 GPU-hours a month at $1/GPU-hour (overflow $2/GPU-hour), and a spot pool."""
    owned = b.pool("onprem", "dgx", nodes=2, usd_per_node_hour=8.0, model=PricingModel.OWNED)
    reserved = b.pool("cloud", "res", nodes=4, usd_per_node_hour=16.0, model=PricingModel.RESERVED)
    reserved = replace(
        reserved,
        pricing=replace(
            reserved.pricing, reserved_gpu_hours_per_month=100.0, reserved_usd_per_gpu_hour=1.0
        ),
    )
    spot = b.pool("cloud", "spot", nodes=4, usd_per_node_hour=16.0, model=PricingModel.SPOT)
    return b.fleet(
        b.site("onprem", kind=SiteKind.ONPREM, pools=(owned,)),
        b.site("cloud", pools=(reserved, spot), provider="gcp"),
    )
