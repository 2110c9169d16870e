"""FOCUS 1.2 rows: the exact column set, values, and CSV equal to the typed columns."""

from __future__ import annotations

import csv
import io
import json

import pytest

from aiplane.core.cost.allocation import idle_costs, in_force_throughout
from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.focus import COLUMNS, MANDATORY, Account, focus_columns, focus_csv
from aiplane.core.cost.metering import commitments, meter

from .factories import HOUR, JULY, JUNE, fleet, interval

FOCUS_1_2_MANDATORY = {
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
}
OPTIONAL = {
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingCategory",
    "RegionId",
    "ResourceId",
    "SubAccountId",
    "Tags",
}
PROJECT = {
    "x_team",
    "x_project",
    "x_workload",
    "x_model",
    "x_endpoint",
    "x_run",
    "x_attempt",
    "x_site",
    "x_pool",
    "x_pricing_model",
    "x_accelerator",
    "x_gpu_hours",
    "x_avg_sm_activity",
    "x_cost_kind",
}


def test_the_column_set_is_exactly_focus_mandatory_optional_and_x_columns() -> None:
    assert set(MANDATORY) == FOCUS_1_2_MANDATORY
    assert set(COLUMNS) == FOCUS_1_2_MANDATORY | OPTIONAL | PROJECT
    assert len(COLUMNS) == len(set(COLUMNS))
    assert all(c.startswith("x_") for c in COLUMNS if c not in FOCUS_1_2_MANDATORY | OPTIONAL)


def _export() -> tuple[dict[str, list[object]], str]:
    f = fleet()
    usage = UsageColumns.from_intervals(
        [
            interval("r1", start=JULY - HOUR, hours=2, project="llama", model="llama-3-8b"),
            interval("r4", start=JUNE + 2 * HOUR, model="fraud", endpoint="fraud"),
            interval(
                "r2", pool="cloud/res", pricing="reserved", hours=15, egress_gb=10, egress_usd=1.2
            ),
            interval(
                "r3", pool="onprem/dgx", pricing="owned", workload='say "hi", twice', gpus=0.0
            ),
        ]
    )
    start, end = JUNE, JULY + 24 * HOUR
    lines = meter(usage, start, end, commitments(f))
    idle = [(JUNE, JULY, i) for i in idle_costs(lines, usage, in_force_throughout(f), JUNE, JULY)]
    kwargs = {"idle": idle, "account": Account("acct-1", "Acme ML"), "sm_activity": {"r1": 0.25}}
    cols = focus_columns(lines, usage, f, **kwargs)  # type: ignore[arg-type]
    text = "".join(focus_csv(lines, usage, f, chunk_rows=2, **kwargs))  # type: ignore[arg-type]
    return cols, text


def test_values_of_usage_egress_and_idle_rows() -> None:
    cols, _ = _export()
    rows = [dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)]
    r1 = [r for r in rows if r["x_run"] == "r1"]
    assert [
        (r["ChargePeriodStart"], r["ChargePeriodEnd"], r["BillingPeriodStart"]) for r in r1
    ] == [
        ("2025-06-30T23:00:00Z", "2025-07-01T00:00:00Z", "2025-06-01T00:00:00Z"),
        ("2025-07-01T00:00:00Z", "2025-07-01T01:00:00Z", "2025-07-01T00:00:00Z"),
    ]
    first = r1[0]
    assert first["BilledCost"] == first["EffectiveCost"] == first["ListCost"] == 16.0
    assert (first["PricingQuantity"], first["PricingUnit"], first["PricingCategory"]) == (
        8.0,
        "GPU-Hours",
        "Dynamic",
    )
    assert (first["ProviderName"], first["RegionId"], first["ServiceCategory"]) == (
        "gcp",
        "cloud-region",
        "AI and Machine Learning",
    )
    assert (first["x_team"], first["x_project"], first["x_model"], first["x_avg_sm_activity"]) == (
        "research",
        "llama",
        "llama-3-8b",
        0.25,
    )
    assert (
        first["BillingAccountId"],
        first["BillingCurrency"],
        first["ChargeCategory"],
        first["ChargeClass"],
    ) == ("acct-1", "USD", "Usage", None)

    (reserved,) = [r for r in rows if r["x_run"] == "r2" and r["x_cost_kind"] == "usage"]
    # 120 GPU-hours: 100 covered by the commitment at $1, 20 billed at the $2 list rate.
    assert (reserved["BilledCost"], reserved["EffectiveCost"], reserved["ListCost"]) == (
        40.0,
        140.0,
        240.0,
    )
    assert reserved["PricingCategory"] == "Committed" and reserved["x_avg_sm_activity"] is None
    (egress,) = [r for r in rows if r["x_cost_kind"] == "egress"]
    assert (egress["PricingQuantity"], egress["PricingUnit"], egress["BilledCost"]) == (
        10.0,
        "GB",
        1.2,
    )
    assert egress["ServiceCategory"] == "Networking"
    (cpu,) = [r for r in rows if r["x_run"] == "r3"]
    assert (cpu["PricingUnit"], cpu["PricingQuantity"], cpu["ProviderName"]) == (
        "Hours",
        1.0,
        "Acme ML",
    )

    idle = {r["x_pool"]: r for r in rows if r["x_cost_kind"] == "idle"}
    assert set(idle) == {"onprem/dgx"}  # the commitment was used up: nothing idle there
    assert idle["onprem/dgx"]["x_team"] is None
    assert idle["onprem/dgx"]["EffectiveCost"] == pytest.approx(2 * 8.0 * 720 - 16.0)


def test_the_csv_holds_the_same_rows_as_the_columns() -> None:
    cols, text = _export()
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(COLUMNS)
    body = parsed[1:]
    assert len(body) == len(cols["BilledCost"])
    for i, name in enumerate(COLUMNS):
        for row, value in zip(body, cols[name], strict=True):
            if value is None:
                assert row[i] == ""
            elif isinstance(value, float):
                assert float(row[i]) == pytest.approx(value, abs=1e-6)
            else:
                assert row[i] == str(value)


def test_an_endpoints_replica_carries_the_endpoint_in_x_endpoint_and_tags() -> None:
    cols, text = _export()
    rows = [dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)]
    (replica,) = [r for r in rows if r["x_run"] == "r4"]
    assert replica["x_endpoint"] == "fraud" and replica["x_site"] == "cloud"
    assert json.loads(str(replica["Tags"])) == {
        "aiplane.team": "research",
        "aiplane.model": "fraud",
        "aiplane.endpoint": "fraud",
    }
    (train,) = [r for r in rows if r["x_run"] == "r1"][:1]
    assert train["x_endpoint"] is None
    assert json.loads(str(train["Tags"])) == {
        "aiplane.team": "research",
        "aiplane.project": "llama",
        "aiplane.model": "llama-3-8b",
    }
    idle = [r for r in rows if r["x_cost_kind"] == "idle"]
    assert idle and all(r["Tags"] is None and r["x_endpoint"] is None for r in idle)
    # The CSV quotes the JSON object (it holds quotes and commas) and reads back the same.
    parsed = list(csv.DictReader(io.StringIO(text)))
    (line,) = [r for r in parsed if r["x_run"] == "r4"]
    assert line["x_endpoint"] == "fraud"
    assert json.loads(line["Tags"])["aiplane.endpoint"] == "fraud"
