"""Costs over the API (as an operator, who reads every team's) and the `aiplane cost` commands
in-process against it. Scoping to the caller's teams: tests/api/test_scoping.py."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aiplane.cli.commands import cost_reports
from aiplane.cli.main import app as cli
from aiplane.client import Client
from aiplane.core.cost.focus import COLUMNS
from aiplane.core.errors import StoreError
from aiplane.wiring import ControlPlane
from tests.api.conftest import Clock
from tests.identities import grant
from tests.services.cost_fixtures import DAY, JUNE, fleet_document, usage
from tests.services.fleets import apply_fleet

NOW = JUNE + 10 * DAY
BUDGETS = [
    {"name": "research-hard", "team": "research", "amount_usd": 500, "rules": [{"kind": "block"}]},
]


@pytest.fixture
def seeded(cp: ControlPlane, clock: Clock) -> ControlPlane:
    clock.fixed = NOW
    apply_fleet(cp.store, fleet_document(BUDGETS), JUNE)
    cp.store.usage.add(usage("r1", JUNE + DAY, 20, workload="train", model="llama-3-8b"))  # $320
    cp.store.usage.add(
        usage("r2", JUNE + 2 * DAY, 10, team="infra", pool="fra/dgx", usd_per_hour=8.0)
    )
    return cp


def get(api: TestClient, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = api.get(f"/api/v1/costs/{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.usefixtures("seeded")
def test_reports_by_each_dimension(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    viewer = tokens["operator"]
    r = get(api, viewer, "report", by="team", **{"from": "2025-06-01", "to": "2025-06-11"})
    assert (r["from"], r["to"]) == ("2025-06-01T00:00:00Z", "2025-06-11T00:00:00Z")
    rows = {row["key"]: row for row in r["rows"]}
    assert rows["research"]["usd"] == 320.0 and rows["infra"]["usd"] == 80.0
    # The owned pool's idle time (8 GPUs at $1 for 10 days, less $80 used) goes to infra.
    assert r["idle"][0]["pool"] == "fra/dgx" and r["idle"][0]["idle_usd"] == 8 * 240 - 80
    assert rows["infra"]["idle_share_usd"] == 8 * 240 - 80
    for by, key in (
        ("model", "llama-3-8b"),
        ("site", "gcp"),
        ("pricing", "spot"),
        ("workload", "train"),
    ):
        keys = [row["key"] for row in get(api, viewer, "report", by=by)["rows"]]
        assert key in keys, by
    bad = api.get("/api/v1/costs/report", headers=viewer, params={"by": "colour"})
    assert bad.status_code == 422 and bad.json()["error"]["problems"][0]["location"] == "by"
    assert api.get("/api/v1/costs/report").status_code == 401


@pytest.mark.usefixtures("seeded")
def test_an_export_whose_usage_cannot_be_read_is_an_error_not_a_short_file(
    api: TestClient, cp: ControlPlane, tokens: dict[str, dict[str, str]], monkeypatch: Any
) -> None:
    def unreadable(*_: object) -> list[object]:
        raise StoreError("the database went away")

    monkeypatch.setattr(cp.store.usage, "overlapping", unreadable)
    response = api.get("/api/v1/costs/export", headers=tokens["operator"])
    # Before the headers: a 503 with the error body, not a 200 cut short after them.
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_error"


@pytest.mark.usefixtures("seeded")
def test_focus_export_as_csv_and_parquet(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    viewer = tokens["operator"]
    response = api.get("/api/v1/costs/export", headers=viewer, params={"from": "2025-06-01"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(COLUMNS)
    assert {r["x_run"] for r in rows if r["x_cost_kind"] == "usage"} == {"r1", "r2"}

    import pyarrow.parquet as pq  # a dev dependency: the Parquet path is always tested

    response = api.get("/api/v1/costs/export", headers=viewer, params={"format": "focus-parquet"})
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column_names == list(COLUMNS) and table.num_rows == len(rows)


def test_budgets_block_submissions_with_402(
    seeded: ControlPlane, api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    seeded.store.usage.add(usage("r3", JUNE + 3 * DAY, 20))  # research: $640 of $500
    # research's own monthly budget replaces the one its budget_usd_per_month would make.
    (budget,) = get(api, tokens["operator"], "budgets")
    assert (budget["name"], budget["actions"], budget["spent_usd"]) == (
        "research-hard",
        ["block"],
        640.0,
    )
    assert budget["implicit"] is False
    spec = {"name": "ft", "team": "research", "kind": "finetune", "run": "true"}
    member = grant(seeded.services, "researcher", teams={"research": "member"})
    response = api.post("/api/v1/jobs", headers=member, json={"spec": spec, "source": "w.yaml"})
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "budget_exceeded"


@pytest.mark.usefixtures("seeded")
def test_forecast_anomalies_and_alerts(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    viewer = tokens["operator"]
    forecasts = {f["team"]: f for f in get(api, viewer, "forecast")}
    assert forecasts["research"]["spent_usd"] == 320.0
    assert forecasts["research"]["expected_usd"] >= 320.0
    assert get(api, viewer, "anomalies", by="workload") == []
    assert get(api, viewer, "alerts") == []


@pytest.fixture
def run_cli(
    seeded: ControlPlane,  # noqa: ARG001 (requested for the costs it stores)
    api: TestClient,
    tokens: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    token = tokens["operator"]["Authorization"].removeprefix("Bearer ")

    def forward(request: httpx.Request) -> httpx.Response:
        # Starlette's TestClient is built on another HTTP library than the client's httpx
        # (starlette 1.x): the request crosses over by its parts, not as an object.
        answer = api.request(
            request.method, str(request.url), headers=dict(request.headers), content=request.read()
        )
        return httpx.Response(
            answer.status_code, headers=answer.headers.multi_items(), content=answer.content
        )

    def client() -> Client:
        # The app in this process, through the client's own transport seam.
        return Client("http://testserver", token, transport=httpx.MockTransport(forward))

    monkeypatch.setattr(cost_reports, "connect", client)
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli, ["cost", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result

    return run


def test_cli_cost_commands(run_cli: Any, tmp_path: Path) -> None:
    report = json.loads(run_cli("report", "--by", "team", "--from", "2025-06-01", "--json").stdout)
    # infra carries the owned pool's idle time, so it comes first.
    assert [r["key"] for r in report["rows"]] == ["infra", "research"]
    assert "cost by pricing" in run_cli("report", "--by", "pricing").stdout
    out = tmp_path / "focus.csv"
    run_cli(
        "export",
        "--format",
        "focus",
        "--from",
        "2025-06-01",
        "--to",
        "2025-06-11",
        "--out",
        str(out),
    )
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)
    parquet = tmp_path / "focus.parquet"
    run_cli("export", "--format", "focus", "--out", str(parquet))
    assert parquet.read_bytes()[:4] == b"PAR1"
    assert "research-hard" in run_cli("budgets").stdout
    assert json.loads(run_cli("forecast", "--json").stdout)[0]["team"] in ("infra", "research")
    assert "no anomalies" in run_cli("anomalies").stdout


def test_idle_capacity_in_the_report_and_export_counts_from_when_the_fleet_was_applied(
    cp: ControlPlane, clock: Clock, api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    # Decision 0030: a fleet applied ten minutes ago has ten minutes of idle capacity, in the
    # report and in the FOCUS export alike, not the month so far.
    clock.fixed = NOW
    apply_fleet(cp.store, fleet_document(), NOW - 600)
    viewer = tokens["operator"]

    report = get(api, viewer, "report", by="team")
    idle_usd = [(i["pool"], i["idle_usd"]) for i in report["idle"]]
    assert idle_usd == [("fra/dgx", pytest.approx(8 / 6))]
    response = api.get("/api/v1/costs/export", headers=viewer)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    idle = {r["x_pool"]: float(r["EffectiveCost"]) for r in rows if r["x_cost_kind"] == "idle"}
    assert idle == {"fra/dgx": pytest.approx(8 / 6)}
