"""Cost reports, budgets, alerts, anomalies and forecasts. Money in USD, rounded to 1e-6."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CostRow(BaseModel):
    key: str | None = Field(description="the group: a team, workload, site, ... (null: none)")
    usd: float = Field(description="effective (amortised) cost of the group's use")
    billed_usd: float
    list_usd: float
    compute_usd: float
    egress_usd: float
    gpu_hours: float
    runs: int
    idle_share_usd: float = Field(description="idle owned/reserved cost shared out by use")
    total_usd: float
    # By endpoint only (null otherwise, and for the usage that is no endpoint's).
    requests: int | None = Field(None, description="requests served (by endpoint)")
    errors: int | None = Field(None, description="requests answered with an error")
    tokens_in: int | None = Field(None, description="prompt tokens (LLM endpoints)")
    tokens_out: int | None = Field(None, description="completion tokens (LLM endpoints)")
    usd_per_1k_requests: float | None = Field(
        None, description="total_usd / requests x 1000 (null: no requests)"
    )


class IdlePool(BaseModel):
    pool: str
    pricing: str
    accelerator: str | None
    capacity_gpu_hours: float
    used_gpu_hours: float
    idle_gpu_hours: float
    capacity_usd: float
    used_usd: float
    idle_usd: float
    shares: dict[str, float] = Field(description="idle cost per team it was shared out to")


class CostReport(BaseModel):
    # "from" is a Python keyword: the field is from_ and travels as "from".
    model_config = ConfigDict(populate_by_name=True)

    by: str
    from_: str = Field(alias="from", description="start (UTC, ISO 8601)")
    to: str = Field(description="end, exclusive (UTC, ISO 8601)")
    currency: str
    usage_usd: float
    idle_usd: float
    rows: list[CostRow]
    idle: list[IdlePool]


class RequestRow(BaseModel):
    key: str | None = Field(
        description="the endpoint, team, principal, or (by key) the token id (null: no token)"
    )
    principal: str | None = Field(None, description="by key: the token's holder")
    endpoints: list[str] = Field(description="the endpoints the group called")
    requests: int
    errors: int
    tokens_in: int
    tokens_out: int


class RequestReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    by: str
    from_: str = Field(alias="from", description="start (UTC, ISO 8601)")
    to: str = Field(description="end, exclusive (UTC, ISO 8601)")
    requests: int
    tokens: int
    rows: list[RequestRow]


class Forecast(BaseModel):
    period_start: str
    period_end: str
    spent_usd: float
    known_usd: float = Field(description="work queued or running, priced to its estimated end")
    history_usd: float = Field(description="the rest of the period at the usual daily rate")
    expected_usd: float
    low_usd: float = Field(description="80% interval, low end")
    high_usd: float = Field(description="80% interval, high end")
    daily_rate_usd: float
    history_days: int


class TeamForecast(Forecast):
    team: str


class BudgetRuleOut(BaseModel):
    kind: str
    at: float = Field(description="share of the budget's amount")
    basis: str = Field(description="spend or forecast")
    replicas: int | None = Field(None, description="cap_replicas: the most replicas per site")
    fired: bool


class BudgetOut(BaseModel):
    name: str
    scope: str
    target: str
    period: str
    amount_usd: float
    implicit: bool = Field(description="made from a team's budget_usd_per_month")
    spent_usd: float
    share: float
    remaining_usd: float
    forecast: Forecast
    rules: list[BudgetRuleOut]
    actions: list[str] = Field(
        description="actions in force: block, lower_priority, cap_replicas, ..."
    )
    webhook: str | None


class AlertOut(BaseModel):
    key: str
    budget: str
    rule: str
    period_start: float
    created_at: float
    message: str
    payload: dict[str, Any]
    status: str
    url: str | None
    attempts: int
    next_attempt_at: float
    delivered_at: float | None
    last_error: str | None


class AnomalyRun(BaseModel):
    run_id: str
    workload: str
    usd: float
    hours: float
    gpus: float
    accelerator: str | None
    pool: str
    avg_sm_activity: float | None
    explanation: str


class AnomalyOut(BaseModel):
    dimension: str
    key: str | None
    start: str
    end: str
    spend_usd: float
    baseline_usd: float
    excess_usd: float
    score: float
    explanation: str
    runs: list[AnomalyRun]
