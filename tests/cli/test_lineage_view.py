"""The lineage tree the CLI draws from the API's nodes and edges: in the flow of the data,
each node in full once, and the server's text printed as text, never as Rich markup."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from aiplane.cli.lineage_view import lineage_tree
from aiplane.wire.registry import LineageOut


def node(node_id: str, kind: str, label: str, **attrs: Any) -> dict[str, Any]:
    return {"id": node_id, "kind": kind, "label": label, "attrs": attrs}


def edge(source: str, target: str, relation: str) -> dict[str, Any]:
    return {"from": source, "to": target, "relation": relation}


def drawn(graph: LineageOut) -> list[str]:
    console = Console(record=True, width=200, color_system=None)
    console.print(lineage_tree(graph, "fraud@7"))
    return [line.rstrip() for line in console.export_text().splitlines()]


RUN = node("run:j-1", "run", "j-1", code_ref="git:abc123", parameters={"lr": "0.1"}, image=None)
MODEL = node(
    "model:fraud@7",
    "model_version",
    "fraud@7",
    flavor="onnx",
    signed=True,
    author="ana",
    aliases=["production"],
)
GRAPH = LineageOut(
    nodes=[
        node("model:fraud@7", "model_version", "fraud@7", **MODEL["attrs"]),
        RUN,
        node("dataset:clicks@3", "dataset_version", "clicks@3", known=True, size=10, file_count=2),
        node("dataset:gone@1", "dataset_version", "gone@1", known=False),
        node("deployment:fraud@7:job/j-9", "deployment", "job/j-9", by="ops", verified=True),
    ],
    edges=[
        edge("run:j-1", "model:fraud@7", "produced"),
        edge("dataset:clicks@3", "run:j-1", "read_by"),
        edge("dataset:gone@1", "run:j-1", "read_by"),
        edge("model:fraud@7", "deployment:fraud@7:job/j-9", "deployed_as"),
    ],
    dot="digraph lineage {}\n",
)


def test_the_tree_follows_the_data_and_draws_each_node_once() -> None:
    lines = drawn(GRAPH)
    text = "\n".join(lines)
    at = {needle: text.index(needle) for needle in ("clicks@3", "run j-1", "model fraud@7")}
    assert at["clicks@3"] < at["run j-1"] < at["model fraud@7"] < text.index("job/j-9")
    assert "code git:abc123" in text and "params lr=0.1" in text
    assert "signed" in text and "aliases production" in text and "verified" in text
    assert "not in the registry" in text  # the input the registry does not know
    # Both datasets lead to the run: drawn in full under the first, by name under the second.
    assert sum("run j-1  (code" in line for line in lines) == 1
    assert sum("run j-1 (above)" in line for line in lines) == 1
    assert sum("model fraud@7" in line for line in lines) == 1


def test_text_from_the_server_is_not_markup() -> None:
    graph = LineageOut(
        nodes=[node("run:j-2", "run", "[red]j-2[/red]", code_ref="[b]x", parameters={})],
        edges=[],
        dot="",
    )
    text = "\n".join(drawn(graph))
    assert "[red]j-2[/red]" in text and "code [b]x" in text
