"""Lineage graphs: upstream and downstream of a model version, downstream of a dataset
version with the aliases that hold its models, the gaps, JSON and DOT."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aiplane.core.registry.lineage import (
    NodeKind,
    dataset_lineage,
    dot_quote,
    held_by_alias,
    lineage_gaps,
    model_lineage,
)
from aiplane.core.registry.records import (
    Alias,
    DatasetVersion,
    Deployment,
    Flavor,
    ModelVersion,
    RunLineage,
)

CLICKS = DatasetVersion("clicks", 3, "sha256:" + "a" * 64, 2048, 2, 10.0, "u-ann", "EU")
USERS = DatasetVersion("users", 1, "sha256:" + "b" * 64, 512, 1, 10.0, "u-ann", None)


def version(
    n: int, inputs: tuple[str, ...] = ("clicks@3", "users@1"), **kw: object
) -> ModelVersion:
    base = ModelVersion(
        model="churn",
        version=n,
        artifact="sha256:" + "c" * 64,
        flavor=Flavor.SKLEARN,
        created_at=20.0,
        created_by="u-ann",
        run=RunLineage(f"job-{n}", "git:0123abc", {"C": "0.5"}, "python:3.11"),
        inputs=inputs,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


DEPLOYED = [
    Deployment("churn", 2, "job/j-9", 30.0, "u-bob", True),
    Deployment("churn", 1, "job/j-1", 25.0, "u-bob", True),
]
ALIASES = [
    Alias("churn", "production", 2, 28.0, "u-bob"),
    Alias("churn", "staging", 3, 29.0, "u-bob"),
]


def edges(graph_dict: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["from"], e["to"], e["relation"]) for e in graph_dict["edges"]}


def test_a_model_version_both_ways() -> None:
    graph = model_lineage(version(2), [CLICKS], DEPLOYED, ALIASES)
    data = graph.to_dict()
    assert data["root"] == "model:churn@2"
    assert edges(data) == {
        ("run:job-2", "model:churn@2", "produced"),
        ("dataset:clicks@3", "run:job-2", "read_by"),
        ("dataset:users@1", "run:job-2", "read_by"),
        ("model:churn@2", "deployment:churn@2:job/j-9", "deployed_as"),
    }
    run = graph.node("run:job-2")
    assert run is not None and run.attrs == {
        "job_id": "job-2",
        "code_ref": "git:0123abc",
        "parameters": {"C": "0.5"},
        "image": "python:3.11",
    }
    # users@1 was not passed in: it is there, marked unknown.
    users = graph.node("dataset:users@1")
    clicks = graph.node("dataset:clicks@3")
    assert users is not None and users.attrs == {"known": False}
    assert clicks is not None and clicks.attrs["jurisdiction"] == "EU"
    model = graph.node("model:churn@2")
    assert model is not None and model.attrs["aliases"] == ["production"]
    json.dumps(data)  # JSON-ready as it is


def test_without_a_run_the_datasets_lead_to_the_model() -> None:
    graph = model_lineage(version(1, ("clicks@3",), run=None), [CLICKS])
    assert edges(graph.to_dict()) == {("dataset:clicks@3", "model:churn@1", "trained")}
    assert graph.of_kind(NodeKind.RUN) == []


def test_which_production_models_were_trained_on_a_dataset_version() -> None:
    versions = [
        version(1),
        version(2),
        version(3, ("clicks@3",), run=None),
        version(4, ("clicks@2",)),  # another version of the dataset
    ]
    graph = dataset_lineage(CLICKS, versions, DEPLOYED, ALIASES)
    data = graph.to_dict()
    assert data["root"] == "dataset:clicks@3"
    assert [n.label for n in graph.of_kind(NodeKind.MODEL_VERSION)] == [
        "churn@1",
        "churn@2",
        "churn@3",
    ]
    assert held_by_alias(graph, "production") == ["churn@2"]
    assert held_by_alias(graph, "staging") == ["churn@3"]
    assert ("model:churn@2", "deployment:churn@2:job/j-9", "deployed_as") in edges(data)
    assert ("model:churn@1", "deployment:churn@1:job/j-1", "deployed_as") in edges(data)
    assert ("dataset:clicks@3", "model:churn@3", "trained") in edges(data)
    assert "model:churn@4" not in {n["id"] for n in data["nodes"]}


def test_a_shared_run_is_one_node() -> None:
    a = version(1)
    b = replace(version(2), run=a.run)
    graph = dataset_lineage(CLICKS, [a, b])
    assert len(graph.of_kind(NodeKind.RUN)) == 1
    assert len(graph.edges) == 3  # clicks -> run, run -> churn@1, run -> churn@2


def test_lineage_gaps() -> None:
    assert lineage_gaps(version(2), {"clicks@3", "users@1"}) == ()
    assert lineage_gaps(version(2), {"clicks@3"}) == ("input users@1 is not in the registry",)
    assert lineage_gaps(version(2, (), run=None), set()) == (
        "no run recorded",
        "no input dataset version recorded",
    )
    no_code = version(2, run=RunLineage("job-2"))
    assert lineage_gaps(no_code, {"clicks@3", "users@1"}) == ("run job-2 has no code reference",)


QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def test_dot_is_valid_and_quotes_safely() -> None:
    nasty = 'job"; evil [shape=box] \\N\nnext'
    graph = model_lineage(version(2, run=RunLineage(nasty, "git:x")), [CLICKS], DEPLOYED)
    dot = graph.to_dot()
    assert dot.startswith("digraph lineage {\n") and dot.endswith("}\n")
    # Outside the quoted strings only DOT's own punctuation and words remain.
    outside = QUOTED.sub("Q", dot)
    assert '"' not in outside and "evil" not in outside
    assert re.fullmatch(r"[\sA-Za-z0-9_{}\[\]=,;>-]*", outside), outside
    labels = [_unquote(s) for s in QUOTED.findall(dot)]
    assert nasty in labels
    assert dot.count(" -> ") == len(graph.edges)


@given(st.text())
def test_dot_quote_round_trips_printable_text(text: str) -> None:
    quoted = dot_quote(text)
    assert QUOTED.fullmatch(quoted)
    kept = "".join(c for c in text if c == "\n" or not (c < " " or c == "\x7f"))
    assert _unquote(quoted[1:-1]) == kept
