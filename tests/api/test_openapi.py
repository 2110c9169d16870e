"""The OpenAPI document describes every response body: no route answers with an untyped one."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from aiplane.api.errors import MEANING, status_for
from aiplane.core.errors import AiplaneError
from aiplane.wire.errors import ErrorBody

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
                if code == "204":  # No Content: the one success answered without a body
                    assert not response.get("content"), f"{method.upper()} {path} 204"
                    continue
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


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, item[method])
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    ]


def test_every_error_response_is_the_error_body_the_server_sends(api: TestClient) -> None:
    doc = api.get("/api/v1/openapi.json").json()
    # FastAPI's own 422 body ({"detail": [...]}) is not what the server sends: it is gone.
    assert not {"HTTPValidationError", "ValidationError"} & set(doc["components"]["schemas"])
    error = doc["components"]["schemas"]["ErrorBody"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    for method, path, operation in _operations(doc):
        documented = operation["responses"]
        # Any request can carry a body over the limit, and the server can fail.
        assert {"413", "500"} <= set(documented), f"{method} {path}"
        for code, response in documented.items():
            if code.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
                assert response["description"], (method, path, code)


# Routes without a path id that can still answer 404: a principal or team they are given in the
# query or the body that does not exist or is hidden from the caller.
NOT_FOUND_WITHOUT_ID = {
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/endpoints"),  # ?team= of a team the caller is not in
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    # The models whose aliases move, and the MLflow folder an import reads.
    ("POST", "/api/v1/models:promote"),
    ("POST", "/api/v1/models:import"),
}


def test_each_route_documents_the_errors_it_can_answer_with(api: TestClient) -> None:
    """What each route declares follows from what it takes and what it does: no more (a
    client handling every declared code handles only what can come) and no less (the fuzz
    test, test_fuzz.py, holds the server to it)."""
    doc = api.get("/api/v1/openapi.json").json()
    for method, path, operation in _operations(doc):
        where = f"{method} {path}"
        documented = set(operation["responses"])
        behind_token = path != "/api/v1/health"
        # A token is checked, against the store, on every route but health.
        assert ("401" in documented) is behind_token, where
        assert ("503" in documented) is behind_token, where
        # Whoami answers any principal: only health and it are never forbidden.
        assert ("403" in documented) is (path not in ("/api/v1/health", "/api/v1/whoami")), where
        # FastAPI validates parameters and bodies (422); a body that is not text is 400.
        takes_input = bool(operation.get("parameters")) or "requestBody" in operation
        assert ("422" in documented) is takes_input, where
        assert ("400" in documented) is ("requestBody" in operation), where
        names_something = "{" in path or (method, path) in NOT_FOUND_WITHOUT_ID
        assert ("404" in documented) is names_something, where
    codes = {(m, p): set(o["responses"]) for m, p, o in _operations(doc)}
    assert "402" in codes[("POST", "/api/v1/jobs")]  # a budget that blocks the team
    # A preview is refused as its submission would be; 409: the running work changed under it.
    assert {"402", "409"} <= codes[("POST", "/api/v1/placements:preview")]
    assert "409" in codes[("POST", "/api/v1/jobs/{job_id}/checkpoints")]
    assert "502" in codes[("GET", "/api/v1/jobs/{job_id}/logs")]
    assert "501" in codes[("GET", "/api/v1/costs/export")]  # Parquet without pyarrow


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_behind_a_token_answers_401_without_one(api: TestClient) -> None:
    """The 401 each route declares is what the server answers, with the error body and the
    Bearer challenge; and health, which declares none, answers without a token."""
    doc = api.get("/api/v1/openapi.json").json()
    for method, path, operation in _operations(doc):
        response = api.request(method, _concrete(path))
        if "401" not in operation["responses"]:
            assert response.status_code == 200, f"{method} {path}"
            continue
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        assert response.headers["www-authenticate"] == "Bearer", f"{method} {path}"
        ErrorBody.model_validate(response.json())


def test_a_body_that_is_not_text_is_the_documented_400(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    doc = api.get("/api/v1/openapi.json").json()
    for method, path, operation in _operations(doc):
        if "requestBody" not in operation:
            continue
        headers = {**tokens["admin"], "Content-Type": "application/json"}
        response = api.request(method, _concrete(path), content=b"\x80", headers=headers)
        assert response.status_code == 400, f"{method} {path}: {response.status_code}"
        assert response.json()["error"]["code"] == "body_unreadable", f"{method} {path}"


def test_the_documented_error_body_is_what_a_refusal_sends(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    viewer = tokens["viewer"]
    for status, response in (
        (401, api.get("/api/v1/jobs")),
        (422, api.get("/api/v1/jobs", params={"limit": 0}, headers=viewer)),
        (404, api.get("/api/v1/jobs/j-none", headers=viewer)),
        # Outside any operation of the document, the same body: an unknown route, a method
        # the path does not have.
        (404, api.get("/api/v1/no-such-route", headers=viewer)),
        (405, api.delete("/api/v1/jobs", headers=viewer)),
    ):
        assert response.status_code == status
        ErrorBody.model_validate(response.json())


def _subclasses(cls: type[AiplaneError]) -> list[type[AiplaneError]]:
    return [s for c in cls.__subclasses__() for s in (c, *_subclasses(c))]


def test_the_409_names_every_code_it_is_sent_with(api: TestClient) -> None:
    """A client reading the document learns every code a 409 comes with, the in-flight key
    of a submission (which it should retry) among them."""
    doc = api.get("/api/v1/openapi.json").json()  # the app is built: its errors are imported
    sent = {cls.code for cls in _subclasses(AiplaneError) if status_for(cls.__new__(cls)) == 409}
    assert {"conflict", "illegal_transition", "idempotency_key_in_flight"} <= sent
    assert sorted(code for code in sent if code not in MEANING[409]) == []
    submit = doc["paths"]["/api/v1/jobs"]["post"]["responses"]["409"]["description"]
    assert "idempotency_key_in_flight" in submit
