"""``POST /datasets/{name}/versions`` with no tables: the server reads them from the files
uploaded through ``/blobs``."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

CSV = b"user,clicks\nu1,3\nu2,5\nu3,8\n"
SHA = hashlib.sha256(CSV).hexdigest()


@pytest.mark.usefixtures("fleet_applied")
def test_the_server_fills_the_tables_of_a_registered_version(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    member = tokens["member"]
    put = api.put(f"/api/v1/blobs/{SHA}", params={"offset": 0}, content=CSV, headers=member)
    assert put.status_code == 200, put.text
    assert api.post(f"/api/v1/blobs/{SHA}:commit", headers=member).status_code == 200
    body = {
        "team": "t",
        "site": "here",
        "manifest": {"files": [{"path": "data/clicks.csv", "sha256": SHA, "size": len(CSV)}]},
    }
    answer = api.post("/api/v1/datasets/clicks/versions", json=body, headers=member)
    assert answer.status_code == 201, answer.text
    assert answer.json()["tables"] == [
        {
            "path": "data/clicks.csv",
            "columns": [{"name": "user", "type": "string"}, {"name": "clicks", "type": "int64"}],
            "rows": 3,
        }
    ]
    again = api.get("/api/v1/datasets/clicks/versions/1", headers=tokens["viewer"])
    assert again.json()["tables"] == answer.json()["tables"]
