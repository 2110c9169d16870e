"""Core and service objects rendered as API bodies (the models of ``aiplane.wire``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiplane.core.codec import placement_to_dict, workload_to_dict
from aiplane.core.cost.alerts import CostAlert, alert_to_dict
from aiplane.core.cost.anomalies import Anomaly
from aiplane.core.cost.forecast import Forecast as CoreForecast
from aiplane.core.cost.periods import iso
from aiplane.core.cost.requests import RequestReport as CoreRequestReport
from aiplane.core.cost.rollup import RollupRow
from aiplane.core.events import Event
from aiplane.core.runs import Placement
from aiplane.core.secrets_env import secret_reason
from aiplane.services.types import BudgetView, Explanation, FleetState, JobView, PlacementPreview
from aiplane.services.types import CostReport as CoreReport
from aiplane.wire.costs import (
    AlertOut,
    AnomalyOut,
    AnomalyRun,
    BudgetOut,
    BudgetRuleOut,
    CostReport,
    CostRow,
    Forecast,
    IdlePool,
    RequestReport,
    RequestRow,
)
from aiplane.wire.fleet import FleetOut, PoolOut
from aiplane.wire.jobs import EventOut, ExplanationOut, JobOut, PlacementOut
from aiplane.wire.placements import PreviewOut


def placement_out(p: Placement) -> PlacementOut:
    return PlacementOut(
        site=p.site,
        pool=p.pool,
        backend=p.backend,
        accelerator=p.accelerator,
        emulated=p.emulated,
        usd_per_hour=p.usd_per_hour,
        nodes=[a.node for a in p.assignments],
    )


def preview_out(preview: PlacementPreview) -> PreviewOut:
    p = preview.placement
    return PreviewOut(
        outcome="placed" if p is not None else "waiting",
        reason=preview.reason,
        placement=placement_out(p) if p is not None else None,
        explanation=dict(preview.explanation),
        queue_ignored=preview.queue_ignored,
        evaluated_at=preview.at,
    )


def job_out(view: JobView, with_workload: bool = False) -> JobOut:
    job, run = view.job, view.run
    w = job.workload
    placement = placement_out(run.placement) if run.placement is not None else None
    return JobOut(
        id=job.id,
        name=w.name,
        team=w.team,
        kind=str(w.kind),
        priority=w.priority,
        replicas=w.replicas,
        state=str(run.state),
        attempt=run.attempt,
        submitted_at=job.submitted_at,
        submitted_by=job.submitted_by,
        started_at=run.started_at,
        finished_at=run.finished_at,
        exit_code=run.exit_code,
        reason=run.reason,
        placement=placement,
        workload=_redacted_workload(workload_to_dict(w)) if with_workload else None,
    )


REDACTED = "<redacted>"


def _redacted_workload(document: dict[str, Any]) -> dict[str, Any]:
    """A workload as read back: env values whose names mark them secret (``HF_TOKEN``,
    ``DB_PASSWORD``: the rule the launcher applies to the server's own environment) are
    replaced, so that whoever may read the job does not read its credentials."""
    env = document.get("env") or {}
    document["env"] = {k: REDACTED if secret_reason(k) else v for k, v in env.items()}
    return document


def _redacted_fleet(document: Mapping[str, Any]) -> dict[str, Any]:
    """The fleet document as read back: a webhook's inline ``secret`` is never shown (its
    ``secret_env`` name is)."""
    out = dict(document)
    budgets = []
    for budget in out.get("budgets") or []:
        webhook = budget.get("webhook") if isinstance(budget, Mapping) else None
        if isinstance(webhook, Mapping) and webhook.get("secret"):
            budgets.append({**budget, "webhook": {**webhook, "secret": REDACTED}})
        else:
            budgets.append(budget)
    if "budgets" in out:
        out["budgets"] = budgets
    return out


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        at=event.at,
        kind=event.kind,
        message=event.message,
        run_id=event.run_id,
        data=dict(event.data),
    )


def explanation_out(e: Explanation) -> ExplanationOut:
    run = e.view.run
    return ExplanationOut(
        job_id=e.view.job.id,
        state=str(run.state),
        reason=run.reason,
        placement=placement_to_dict(run.placement) if run.placement else None,
        decisions=[event_out(d) for d in e.decisions],
    )


def fleet_out(state: FleetState | None, with_document: bool) -> FleetOut:
    if state is None:
        return FleetOut(version=None, applied_at=None, pools=[])
    pools = []
    for site in state.fleet.sites:
        for pool in site.pools:
            u = state.usage[pool.key]
            pools.append(
                PoolOut(
                    site=site.name,
                    site_kind=str(site.kind),
                    jurisdiction=site.jurisdiction,
                    pool=pool.name,
                    backend=pool.backend,
                    emulated=pool.emulated,
                    accelerator=pool.node.accelerator,
                    gpus_per_node=pool.node.gpus,
                    nodes_min=pool.nodes_min,
                    nodes_max=pool.nodes_max,
                    pricing=str(pool.pricing.model),
                    usd_per_node_hour=pool.pricing.usd_per_node_hour,
                    price_source=pool.pricing.source,
                    gpus_used=u.gpus_used,
                    gpus_total=u.gpus_total,
                    active_runs=u.active_runs,
                )
            )
    return FleetOut(
        version=state.record.version,
        applied_at=state.record.applied_at,
        pools=pools,
        document=_redacted_fleet(state.record.document) if with_document else None,
    )


def _money(x: float) -> float:
    return round(x, 6)


def _requests_out(row: RollupRow) -> dict[str, Any]:
    """A report by endpoint's request columns (none for other reports)."""
    t = row.requests
    if t is None:
        return {}
    per_1k = row.usd_per_1k_requests
    return {
        "requests": t.requests,
        "errors": t.errors,
        "tokens_in": t.tokens_in,
        "tokens_out": t.tokens_out,
        "usd_per_1k_requests": None if per_1k is None else _money(per_1k),
    }


def requests_out(r: CoreRequestReport) -> RequestReport:
    return RequestReport(
        by=r.by,
        from_=iso(r.start),
        to=iso(r.end),
        requests=r.totals.requests,
        tokens=r.totals.tokens,
        rows=[
            RequestRow(
                key=row.key,
                principal=row.principal,
                endpoints=list(row.endpoints),
                requests=row.totals.requests,
                errors=row.totals.errors,
                tokens_in=row.totals.tokens_in,
                tokens_out=row.totals.tokens_out,
            )
            for row in r.rows
        ],
    )


def report_out(r: CoreReport) -> CostReport:
    return CostReport(
        by=r.by,
        from_=iso(r.start),
        to=iso(r.end),
        currency="USD",
        usage_usd=_money(r.usage_usd),
        idle_usd=_money(r.idle_usd),
        rows=[
            CostRow(
                key=row.key,
                usd=_money(row.usd),
                billed_usd=_money(row.billed_usd),
                list_usd=_money(row.list_usd),
                compute_usd=_money(row.compute_usd),
                egress_usd=_money(row.egress_usd),
                gpu_hours=round(row.gpu_hours, 6),
                runs=row.runs,
                idle_share_usd=_money(row.idle_share_usd),
                total_usd=_money(row.total_usd),
                **_requests_out(row),
            )
            for row in r.rows
        ],
        idle=[
            IdlePool(
                pool=i.pool,
                pricing=i.pricing,
                accelerator=i.accelerator,
                capacity_gpu_hours=round(i.capacity_gpu_hours, 6),
                used_gpu_hours=round(i.used_gpu_hours, 6),
                idle_gpu_hours=round(i.idle_gpu_hours, 6),
                capacity_usd=_money(i.capacity_usd),
                used_usd=_money(i.used_usd),
                idle_usd=_money(i.idle_usd),
                shares={k: _money(v) for k, v in r.idle_shares.get(i.pool, {}).items()},
            )
            for i in r.idle
        ],
    )


def forecast_out(f: CoreForecast) -> Forecast:
    return Forecast(
        period_start=iso(f.period_start),
        period_end=iso(f.period_end),
        spent_usd=_money(f.spent_usd),
        known_usd=_money(f.known_usd),
        history_usd=_money(f.history_usd),
        expected_usd=_money(f.expected_usd),
        low_usd=_money(f.low_usd),
        high_usd=_money(f.high_usd),
        daily_rate_usd=_money(f.daily_rate_usd),
        history_days=f.history_days,
    )


def budget_out(view: BudgetView) -> BudgetOut:
    st, b = view.status, view.status.budget
    return BudgetOut(
        name=b.name,
        scope=str(b.scope),
        target=b.target,
        period=str(b.period),
        amount_usd=b.amount_usd,
        implicit=b.implicit,
        spent_usd=_money(st.spent_usd),
        share=round(st.share, 6),
        remaining_usd=_money(st.remaining_usd),
        forecast=forecast_out(view.forecast),
        rules=[
            BudgetRuleOut(
                kind=str(r.kind),
                at=r.at,
                basis=str(r.basis),
                replicas=r.max_replicas,
                fired=r in st.fired,
            )
            for r in b.rules
        ],
        actions=sorted(str(a) for a in st.actions),
        webhook=b.webhook.url if b.webhook else None,
    )


def alert_out(a: CostAlert) -> AlertOut:
    return AlertOut.model_validate(alert_to_dict(a))


def anomaly_out(a: Anomaly) -> AnomalyOut:
    return AnomalyOut(
        dimension=a.dimension,
        key=a.key,
        start=iso(a.start),
        end=iso(a.end),
        spend_usd=_money(a.spend_usd),
        baseline_usd=_money(a.baseline_usd),
        excess_usd=_money(a.excess_usd),
        score=round(a.score, 3),
        explanation=a.explain(),
        runs=[
            AnomalyRun(
                run_id=c.run_id,
                workload=c.workload,
                usd=_money(c.usd),
                hours=round(c.hours, 4),
                gpus=c.gpus,
                accelerator=c.accelerator,
                pool=c.pool,
                avg_sm_activity=c.sm_activity,
                explanation=c.describe(),
            )
            for c in a.contributors
        ],
    )
