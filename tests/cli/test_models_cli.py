"""`aiplane models` as a user runs it: real processes against a real control plane, with
its artifact store on disk. Registering, downloading and verifying (then tampering with a
stored blob), governed promotion under a policy (refusals naming every rule, several moves
all or none), the production history at a time, and lineage as a tree and as DOT."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from tests.cli.registry_plane import Plane, folder, plane

pytestmark = pytest.mark.slow
__all__ = ["plane"]  # the fixture, imported to be found

WEIGHTS = os.urandom(300_000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_register_twice_download_and_verify_then_tamper(plane: Plane, tmp_path: Path) -> None:
    model = folder(tmp_path / "model", {"weights.bin": WEIGHTS, "config.json": b'{"depth": 3}'})
    first = plane.ok(
        "ana",
        *("models", "register", "fraud", "--path", str(model), "--team", "risk"),
        *("--metric", "auc=0.91", "--param", "depth=3", "--tag", "stage=dev", "--json"),
    )
    assert first["version"] == 1 and first["artifact"].startswith("sha256:")
    assert first["metrics"] == {"auc": 0.91} and first["params"] == {"depth": "3"}
    assert first["signature"] is not None and first["signature"]["key_id"]
    # A second version with one more file: the two it shares with the first are stored once.
    folder(model, {"notes/readme.txt": b"trained on clicks"})
    text = plane.ok("ana", "models", "register", "fraud", "--path", str(model), "--team", "risk")
    assert "fraud@2" in text and first["signature"]["key_id"] in text
    assert len(plane.blobs(sha(WEIGHTS))) == 1

    second = plane.ok("ana", "models", "get", "fraud@2", "--json")
    assert second["version"] == 2 and second["artifact"] != first["artifact"]
    assert [m["name"] for m in plane.ok("bob", "models", "list", "--json")] == ["fraud"]
    assert "fraud" in plane.ok("bob", "models", "list") and "risk" in plane.ok(
        "bob", "models", "show", "fraud"
    )
    listed = plane.ok("bob", "models", "versions", "fraud", "--json")["items"]
    assert [v["version"] for v in listed] == [2, 1]
    tagged = plane.ok("ana", "models", "tag", "fraud@1", "owner=ana", "--remove", "stage", "--json")
    assert tagged["tags"] == {"owner": "ana"}
    shown = plane.ok("ana", "models", "get", "fraud@1")
    assert "auc=0.91" in shown and "owner=ana" in shown and "depth=3" in shown

    out = tmp_path / "out"
    plane.ok("bob", "models", "download", "fraud@1", "--to", str(out))
    assert (out / "weights.bin").read_bytes() == WEIGHTS
    assert (out / "config.json").read_bytes() == b'{"depth": 3}'
    assert not (out / "notes").exists()

    intact = plane.aiplane("bob", "models", "verify", "fraud@1")
    assert intact.returncode == 0 and "intact" in intact.stdout, intact.stderr
    # One bit flipped in the stored weights: both versions hold them, both are refused.
    (blob,) = plane.blobs(sha(WEIGHTS))
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0x01
    blob.write_bytes(bytes(data))
    broken = plane.aiplane("bob", "models", "verify", "fraud@2")
    assert broken.returncode == 1, broken.stdout
    assert "weights.bin" in broken.stderr and "config.json" not in broken.stderr
    assert "Traceback" not in broken.stderr
    report = json.loads(plane.aiplane("bob", "models", "verify", "fraud@1", "--json").stdout)
    assert report["ok"] is False
    assert [p["location"] for p in report["problems"]] == ["weights.bin"]


POLICY = """\
aliases:
  production:
    protected: true
    approvals: 1
    evaluations:
      - {metric: auc, min: 0.9}
"""


def test_promotion_under_policy_history_at_a_time_and_lineage(
    plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = folder(tmp_path / "clicks", {"part-0.csv": b"user,clicked\n1,0\n2,1\n"})
    clicks = plane.ok(
        "ana",
        *("datasets", "register", "clicks", "--path", str(data), "--team", "risk"),
        *("--site", "here", "--jurisdiction", "EU", "--json"),
    )
    assert clicks["version"] == 1
    workdir = folder(tmp_path / "code", {"train.py": b"print('training')\n"})
    spec = workdir / "train.yaml"
    spec.write_text(
        json.dumps(
            {"name": "train", "team": "risk", "kind": "batch", "run": "true", "env": {"LR": "0.1"}}
        )
    )
    job = plane.ok("ana", "submit", str(spec), "--json")["id"]
    register = ("models", "register", "fraud", "--team", "risk", "--input", "clicks@1")
    model = folder(tmp_path / "m1", {"model.onnx": os.urandom(1000)})
    made = plane.ok(
        "ana", *register, "--path", str(model), "--metric", "auc=0.85", "--from-run", job, "--json"
    )
    assert made["version"] == 1 and made["run"]["job_id"] == job
    # Inside a workload (AIPLANE_JOB_ID set), the run is that job without --from-run.
    monkeypatch.setenv("AIPLANE_JOB_ID", job)
    model = folder(tmp_path / "m2", {"model.onnx": os.urandom(1000)})
    made = plane.ok("ana", *register, "--path", str(model), "--metric", "auc=0.95", "--json")
    assert made["version"] == 2 and made["run"]["job_id"] == job
    monkeypatch.delenv("AIPLANE_JOB_ID")

    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    set_text = plane.ok("olga", "models", "policy", "set", "fraud", str(policy))
    assert "model fraud: its own policy, revision 1" in set_text and "min: 0.9" in set_text
    assert "the default policy" in plane.ok("ana", "models", "policy", "show-team", "risk")
    assert plane.ok("ana", "models", "policy", "show", "fraud", "--json")["protected"] == [
        "production"
    ]

    # No approval and a failed evaluation: refused, both rules named, exit 1.
    refused = plane.aiplane("ana", "models", "promote", "fraud@1", "--to", "production")
    assert refused.returncode == 1, refused.stdout
    assert "approv" in refused.stderr and "auc" in refused.stderr
    self_approved = plane.aiplane("ana", "models", "approve", "fraud@2", "--for", "production")
    assert self_approved.returncode == 1 and "Traceback" not in self_approved.stderr
    plane.ok("bob", "models", "approve", "fraud@2", "--for", "production", "--comment", "ok")
    approvals = plane.ok("ana", "models", "approvals", "fraud@2", "--json")
    assert [(a["alias"], a["by"]) for a in approvals] == [("production", "bob")]

    before = time.time()
    time.sleep(0.05)
    # Two moves, one of them refused (fraud@1 fails the policy): neither alias moves.
    both = plane.aiplane(
        "ana", "models", "promote", "--move", "fraud@2=staging", "--move", "fraud@1=production"
    )
    assert both.returncode == 1 and "fraud@1" in both.stderr
    assert plane.ok("ana", "models", "show", "fraud", "--json")["aliases"] == []
    moved = plane.ok("ana", "models", "promote", "fraud@2", "--to", "production", "--json")
    assert [(m["alias"], m["version"], m["previous"]) for m in moved] == [("production", 2, None)]
    held = plane.ok("bob", "models", "get", "fraud@production", "--json")
    assert (held["version"], held["aliases"]) == (2, ["production"])

    history = plane.ok("bob", "models", "history", "fraud", "--alias", "production", "--json")
    periods = history["items"]
    assert [(p["version"], p["by"], p["until"]) for p in periods] == [(2, "ana", None)]
    assert periods[0]["approvals"] == ["bob"]
    at = ("models", "history", "fraud", "--alias", "production", "--at")
    assert plane.ok("bob", *at, str(before), "--json")["items"] == []
    then = plane.ok("bob", *at, str(time.time()))
    assert "held version 2" in then and "by ana" in then and "bob" in then

    tree = plane.ok("bob", "models", "lineage", "fraud@production")
    for needle in ("clicks@1", job, "fraud@2", "LR=0.1", "production"):
        assert needle in tree, (needle, tree)
    assert tree.index("clicks@1") < tree.index(job) < tree.index("fraud@2")
    dot = plane.ok("bob", "models", "lineage", "fraud@2", "--format", "dot")
    assert dot.startswith("digraph") and '"dataset:clicks@1" -> "run:' in dot
    graph = plane.ok("bob", "models", "lineage", "fraud@2", "--json")
    assert {n["kind"] for n in graph["nodes"]} == {"dataset_version", "run", "model_version"}

    used = plane.ok("bob", "datasets", "used-by", "clicks@1", "--alias", "production", "--json")
    assert [(v["model"], v["version"]) for v in used["items"]] == [("fraud", 2)]
    every = plane.ok("bob", "datasets", "used-by", "clicks@1", "--json")["items"]
    assert sorted(v["version"] for v in every) == [1, 2]
