"""The OpenAPI document describes every response body: no route answers with an untyped one."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

METHODS = ("get", "put", "post", "delete", "patch")


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def describes_something(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Not ``{}`` and not a bare ``object``: a type with properties, items or a scalar type."""
    schema = resolve(doc, schema)
    if "anyOf" in schema:
        return all(describes_something(doc, s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return describes_something(doc, schema.get("items", {}))
    if kind == "object":
        return bool(schema.get("properties"))
    return kind in ("string", "integer", "number", "boolean")


def test_every_success_response_has_a_schema(api: TestClient) -> None:
    doc = api.get("/api/v1/openapi.json").json()
    checked = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            responses = {c: r for c, r in item[method]["responses"].items() if c.startswith("2")}
            assert responses, f"{method.upper()} {path} documents no success response"
            for code, response in responses.items():
                content = response.get("content")
                assert content, f"{method.upper()} {path} {code}: no body described"
                for media, body in content.items():
                    where = f"{method.upper()} {path} {code} {media}"
                    assert describes_something(doc, body.get("schema", {})), where
                    checked.append(where)
    # Every route family is in the document, the cost routes included.
    for prefix in ("/api/v1/health", "/api/v1/jobs", "/api/v1/fleet", "/api/v1/costs/report"):
        assert any(prefix in c for c in checked), prefix


def test_the_cost_routes_name_their_models(api: TestClient) -> None:
    doc = api.get("/api/v1/openapi.json").json()

    def model(path: str) -> str:
        schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        schema = schema["schema"]
        return str(schema.get("items", schema)["$ref"]).rsplit("/", 1)[-1]

    assert model("/api/v1/costs/report") == "CostReport"
    assert model("/api/v1/costs/budgets") == "BudgetOut"
    assert model("/api/v1/costs/forecast") == "TeamForecast"
    assert model("/api/v1/costs/anomalies") == "AnomalyOut"
    assert model("/api/v1/costs/alerts") == "AlertOut"
    report = doc["components"]["schemas"]["CostReport"]
    assert {"from", "to", "rows", "idle"} <= set(report["properties"])
    export = doc["paths"]["/api/v1/costs/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"text/csv", "application/vnd.apache.parquet"}
