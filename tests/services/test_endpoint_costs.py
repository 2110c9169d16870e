"""Cost per endpoint through the services: a replica's usage carries its endpoint into the
FOCUS lines; the report by endpoint joins the gateway's counters (cost per 1,000 requests,
worked out by hand); request reports by endpoint, team, principal and key; the replica caps
that budgets put on endpoints while their rules hold."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from aiplane.core.cost.focus import TAG_KEYS
from aiplane.core.errors import SpecError
from aiplane.core.events import Event
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Job, Placement, ReplicaAssignment, RunState
from aiplane.core.serving.endpoints import (
    LABEL_ENDPOINT,
    LABEL_ROLE,
    LABEL_SITE,
    LABEL_VERSION,
    Endpoint,
    EndpointSpec,
)
from aiplane.core.serving.routes import RequestCount
from aiplane.services import costs
from aiplane.services.budgets import BudgetCache, endpoint_caps
from aiplane.services.ids import new_id
from aiplane.services.metering import record_usage
from aiplane.specs import workload_from_document
from aiplane.store.memory import MemoryStore
from tests.services.fleets import stored_fleet
from tests.store import factories

from .cost_fixtures import DAY, HOUR, JUNE, store_with, usage

NOW = JUNE + 10 * DAY


def fleet_of(store: MemoryStore) -> Fleet:
    fleet = stored_fleet(store)
    assert fleet is not None
    return fleet


def count(endpoint: str, hour: float, requests: int, **changes: Any) -> RequestCount:
    fields: dict[str, Any] = {
        "endpoint": endpoint,
        "team": "research",
        "principal": "alice",
        "token_id": "t-1",
        "hour": hour,
        "requests": requests,
    }
    fields.update(changes)
    return RequestCount(**fields)


def test_a_replicas_usage_carries_its_endpoint_into_the_focus_lines() -> None:
    store = store_with()
    w = workload_from_document(
        {
            "name": "fraud-primary-gcp",
            "team": "research",
            "kind": "serve",
            "run": "true",
            "labels": {
                LABEL_ENDPOINT: "fraud",
                LABEL_SITE: "gcp",
                LABEL_ROLE: "primary",
                LABEL_VERSION: "fraud@3",
                "model": "fraud",
            },
        },
        "w.yaml",
    )
    job = Job(new_id("j-", JUNE), w, JUNE, "me")
    run = factories.run(job)
    with store.unit_of_work() as uow:
        uow.jobs.add(job, run)
        uow.events.add(Event(JUNE, "job.submitted", "submitted", job.id, run.id))
    at = JUNE + HOUR
    one_node = Placement(
        pool="gcp/spot",
        site="gcp",
        backend="emulated",
        accelerator="H100-80GB",
        assignments=(ReplicaAssignment(0, "gcp/spot/0", 8.0),),
        usd_per_hour=16.0,
        emulated=True,
    )
    admitted = replace(run.transition(RunState.ADMITTED, at), placement=one_node)
    admitted = store.jobs.update_run(admitted, RunState.PENDING)
    starting = store.jobs.update_run(admitted.transition(RunState.STARTING, at), RunState.ADMITTED)
    running = store.jobs.update_run(starting.transition(RunState.RUNNING, at), RunState.STARTING)
    end = JUNE + 3 * HOUR
    store.jobs.update_run(running.transition(RunState.CANCELLED, end), RunState.RUNNING)
    fleet = fleet_of(store)
    # What the executor does when a run ends: meter the attempt of the run as it was.
    recorded = record_usage(store, job, running, end, outcome=RunState.CANCELLED, fleet=fleet)
    assert recorded is not None and recorded.endpoint == "fraud"

    table = costs.focus_table(store, fleet, JUNE, JUNE + DAY, NOW)
    columns = list(table.columns.values())
    rows = [dict(zip(table.columns, r, strict=True)) for r in zip(*columns, strict=True)]
    (line,) = [r for r in rows if r["x_cost_kind"] == "usage"]
    assert (line["x_endpoint"], line["x_site"], line["x_model"]) == ("fraud", "gcp", "fraud")
    assert '"aiplane.endpoint":"fraud"' in str(line["Tags"])
    assert TAG_KEYS[-1] == LABEL_ENDPOINT  # the tag is the label the replica carries
    # The replica's own cost: two hours of 8 GPUs at the pool's $2 per GPU-hour.
    assert line["EffectiveCost"] == pytest.approx(2 * 8 * 2.0)


def seeded() -> MemoryStore:
    """Endpoint usage and counters: worked out by hand in the tests below.

    fraud: 10 h on gcp spot at $16/h ($160) + 5 h on fra owned at $8/h ($40) = $200;
    chat: 2 h at $16/h = $32, no counters; embed: counters, no usage; a training run $16;
    ops (infra's endpoint): 1 h = $16 and counters."""
    store = store_with()
    add = store.usage.add
    add(usage("r1", JUNE + DAY, 10, workload="fraud-primary-gcp", endpoint="fraud"))
    add(
        usage(
            "r2", JUNE + DAY, 5, pool="fra/dgx", usd_per_hour=8.0, endpoint="fraud", model="fraud"
        )
    )
    add(usage("r3", JUNE + 2 * DAY, 2, endpoint="chat"))
    add(usage("r4", JUNE + 2 * DAY, 1, workload="train"))
    add(usage("r5", JUNE + 3 * DAY, 1, team="infra", endpoint="ops"))
    h = JUNE + DAY
    store.endpoints.add_counts(
        [
            count("fraud", h, 100_000, errors=12),
            count("fraud", h + HOUR, 15_000, principal="bob", token_id="t-2"),
            count("fraud", h + HOUR, 5_000, principal="bob", token_id=None),
            count("embed", h, 400, tokens_in=20_000),
            count("embed", h + 2 * HOUR, 100, tokens_in=5_000, tokens_out=10),
            count("ops", h, 1_000, team="infra", principal="ops-bot", token_id="t-9"),
            # Before the period: not counted.
            count("fraud", JUNE - HOUR, 999_999),
        ]
    )
    return store


def test_the_report_by_endpoint_gives_cost_per_1000_requests() -> None:
    store = seeded()
    report = costs.report(store, fleet_of(store), "endpoint", JUNE, NOW, NOW)
    rows = {r.key: r for r in report.rows}
    assert set(rows) == {"fraud", "chat", "embed", "ops", None}

    fraud = rows["fraud"]
    assert fraud.total_usd == pytest.approx(200.0)
    assert fraud.requests is not None and fraud.requests.requests == 120_000
    assert fraud.requests.errors == 12
    # $200 / 120,000 requests x 1,000 = $1.6667 per 1,000 requests.
    assert fraud.usd_per_1k_requests == pytest.approx(200.0 / 120.0)
    assert fraud.runs == 2

    chat = rows["chat"]
    assert chat.total_usd == pytest.approx(32.0)
    assert chat.requests is not None and chat.requests.requests == 0
    assert chat.usd_per_1k_requests is None  # no requests: shown as "-"

    embed = rows["embed"]  # requests served, nothing metered in the period
    assert embed.total_usd == 0.0 and embed.usd_per_1k_requests == 0.0
    assert embed.requests is not None and embed.requests.tokens == 25_010

    ops = rows["ops"]
    assert ops.usd_per_1k_requests == pytest.approx(16.0)  # $16 / 1,000 x 1,000

    other = rows[None]  # usage that is no endpoint's
    assert other.total_usd == pytest.approx(16.0) and other.requests is None
    assert other.usd_per_1k_requests is None
    assert [r.key for r in report.rows] == ["fraud", "chat", None, "ops", "embed"]


def test_a_caller_of_one_team_sees_only_its_endpoints_requests() -> None:
    store = seeded()
    report = costs.report(store, fleet_of(store), "endpoint", JUNE, NOW, NOW, teams={"research"})
    assert {r.key for r in report.rows} == {"fraud", "chat", "embed", None}
    found = costs.requests(store, "endpoint", JUNE, NOW, teams={"research"})
    assert [r.key for r in found.rows] == ["fraud", "embed"]


def test_requests_by_endpoint_team_principal_and_key() -> None:
    store = seeded()
    by_endpoint = costs.requests(store, "endpoint", JUNE, NOW)
    assert [(r.key, r.totals.requests) for r in by_endpoint.rows] == [
        ("fraud", 120_000),
        ("ops", 1_000),
        ("embed", 500),
    ]
    assert by_endpoint.totals.requests == 121_500 and by_endpoint.totals.tokens == 25_010

    by_team = costs.requests(store, "team", JUNE, NOW)
    assert [(r.key, r.totals.requests, r.endpoints) for r in by_team.rows] == [
        ("research", 120_500, ("embed", "fraud")),
        ("infra", 1_000, ("ops",)),
    ]
    by_principal = costs.requests(store, "principal", JUNE, NOW)
    assert [(r.key, r.totals.requests) for r in by_principal.rows] == [
        ("alice", 100_500),
        ("bob", 20_000),
        ("ops-bot", 1_000),
    ]
    by_key = costs.requests(store, "key", JUNE, NOW)
    assert [(r.key, r.principal, r.totals.requests) for r in by_key.rows] == [
        ("t-1", "alice", 100_500),
        ("t-2", "bob", 15_000),
        (None, "bob", 5_000),
        ("t-9", "ops-bot", 1_000),
    ]
    one = costs.requests(store, "key", JUNE, NOW, endpoint="embed")
    assert [(r.key, r.totals.tokens_in, r.totals.tokens_out) for r in one.rows] == [
        ("t-1", 25_000, 10)
    ]
    # Only the hours that start in the period: the second hour's counters are outside this one.
    first_hour = costs.requests(store, "endpoint", JUNE + DAY, JUNE + DAY + HOUR)
    assert [(r.key, r.totals.requests) for r in first_hour.rows] == [
        ("fraud", 100_000),
        ("ops", 1_000),
        ("embed", 400),
    ]


def test_an_unknown_request_dimension_is_refused_by_name() -> None:
    with pytest.raises(SpecError) as info:
        costs.requests(store_with(), "colour", JUNE, NOW)
    (problem,) = info.value.problems
    assert (problem.location, problem.given) == ("by", "'colour'")
    assert problem.allowed == "endpoint, team, principal, key"


CAPPING = [
    {
        "name": "research-serving",
        "team": "research",
        "amount_usd": 1000,
        "rules": [
            {"kind": "alert", "at": 0.5},
            {"kind": "cap_replicas", "at": 0.5, "replicas": 2},
            {"kind": "prefer_owned_edge", "at": 0.9},
        ],
    },
    {"name": "llama", "project": "llama", "amount_usd": 100, "rules": [{"kind": "cap_replicas"}]},
]


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def endpoint(name: str = "fraud", team: str = "research", **labels: str) -> Endpoint:
    return Endpoint(EndpointSpec(name=name, team=team, labels=labels), JUNE, JUNE, "alice")


def test_endpoint_caps_answer_while_the_rule_holds_and_none_when_it_does_not() -> None:
    store = store_with(CAPPING)
    clock = Clock()
    caps = endpoint_caps(store, lambda: stored_fleet(store), clock)
    assert caps(endpoint()) is None  # nothing spent

    store.usage.add(usage("r1", JUNE + DAY, 40))  # $640: over 50%, under 90%
    cap = caps(endpoint())
    assert cap is not None
    assert (cap.max_replicas_per_site, cap.prefer_site_kinds) == (2, ())
    assert cap.reason == (
        "budget research-serving: cap replicas at 2 per site when spend reaches 50% "
        "($640.00 of $1,000.00 monthly)"
    )
    assert caps(endpoint("ops", "infra")) is None  # another team's endpoint

    store.usage.add(usage("r2", JUNE + 2 * DAY, 20))  # +$320: $960, over 90%
    cap = caps(endpoint())
    assert cap is not None
    assert (cap.max_replicas_per_site, cap.prefer_site_kinds) == (2, ("onprem", "edge"))
    assert "prefer on-premise and edge sites when spend reaches 90%" in cap.reason

    # A new month: the rules no longer hold.
    clock.now = JUNE + 31 * DAY
    assert caps(endpoint()) is None


def test_a_project_budget_caps_the_endpoints_its_label_names() -> None:
    store = store_with(CAPPING)
    caps = endpoint_caps(store, lambda: stored_fleet(store), Clock())
    store.usage.add(usage("r1", JUNE + DAY, 10, team="infra", project="llama"))  # $160 of $100
    labelled = caps(endpoint("ops", "infra", project="llama"))
    assert labelled is not None
    assert (labelled.max_replicas_per_site, labelled.prefer_site_kinds) == (1, ())  # N: one
    assert labelled.reason.startswith("budget llama: cap replicas at 1 per site")
    assert caps(endpoint("ops", "infra")) is None  # no project label: the team's budgets only


def test_the_tightest_cap_wins_and_failures_leave_endpoints_uncapped() -> None:
    budgets = [
        {
            "name": "soft",
            "team": "research",
            "amount_usd": 100,
            "rules": [{"kind": "cap_replicas", "at": 0.5, "replicas": 4}],
        },
        {
            "name": "hard",
            "team": "research",
            "amount_usd": 100,
            "rules": [{"kind": "cap_replicas", "at": 1.0, "replicas": 2}],
        },
    ]
    store = store_with(budgets)
    store.usage.add(usage("r1", JUNE + DAY, 10))  # $160
    cache = BudgetCache(ttl_s=0.0)
    cap = endpoint_caps(store, lambda: stored_fleet(store), Clock(), cache)(endpoint())
    assert cap is not None and cap.max_replicas_per_site == 2
    assert "budget soft" in cap.reason and "budget hard" in cap.reason
    assert endpoint_caps(store, lambda: None, Clock())(endpoint()) is None  # no fleet yet

    def broken() -> float:
        raise RuntimeError("clock unavailable")

    assert endpoint_caps(store, lambda: stored_fleet(store), broken)(endpoint()) is None
