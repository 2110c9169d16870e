"""A lineage graph as the API sends it (nodes and edges) drawn as a Rich tree, in the flow of
the data: dataset versions -> the run that read them -> the model version it made -> its
deployments.

A graph is not a tree: two datasets read by one run both lead to it. The tree starts at each
node nothing leads to, and a node met a second time is drawn once more by name only
("above"), so that nothing is drawn twice in full and a cycle could not loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.markup import escape
from rich.tree import Tree

from aiplane.wire.registry import LineageOut

_KINDS = {
    "dataset_version": "dataset",
    "run": "run",
    "model_version": "model",
    "deployment": "deployment",
}


def _e(value: Any) -> str:
    return escape(str(value))


def _dataset_facts(a: Mapping[str, Any]) -> list[str]:
    if a.get("known") is False:
        return ["[yellow]not in the registry[/]"]
    files, size = a.get("file_count"), a.get("size")
    facts = [f"{_e(files)} file{'' if files == 1 else 's'}, {_e(size)} bytes"]
    if a.get("jurisdiction"):
        facts.append(f"jurisdiction {_e(a['jurisdiction'])}")
    return facts


def _run_facts(a: Mapping[str, Any]) -> list[str]:
    facts = [f"code {_e(a['code_ref'])}" if a.get("code_ref") else "[yellow]no code ref[/]"]
    if a.get("image"):
        facts.append(f"image {_e(a['image'])}")
    params = a.get("parameters") or {}
    if params:
        facts.append("params " + _e(", ".join(f"{k}={v}" for k, v in sorted(params.items()))))
    return facts


def _model_facts(a: Mapping[str, Any]) -> list[str]:
    facts = [_e(a["flavor"])] if a.get("flavor") else []
    facts.append("signed" if a.get("signed") else "[yellow]unsigned[/]")
    if a.get("author"):
        facts.append(f"by {_e(a['author'])}")
    if a.get("aliases"):
        facts.append("aliases " + _e(", ".join(a["aliases"])))
    return facts


def _deployment_facts(a: Mapping[str, Any]) -> list[str]:
    facts = ["verified" if a.get("verified") else "[yellow]not verified[/]"]
    if a.get("by"):
        facts.append(f"by {_e(a['by'])}")
    return facts


_FACTS = {
    "dataset_version": _dataset_facts,
    "run": _run_facts,
    "model_version": _model_facts,
    "deployment": _deployment_facts,
}


def _describe(node: Mapping[str, Any]) -> str:
    """One line of Rich markup: the kind, the label in bold, and what matters of the node
    (every value from the server escaped: a tag may hold brackets)."""
    kind = str(node.get("kind", ""))
    facts_of = _FACTS.get(kind)
    facts = facts_of(node.get("attrs") or {}) if facts_of else []
    label = f"[dim]{_KINDS.get(kind, _e(kind))}[/] [bold]{_e(node.get('label', ''))}[/]"
    return label + (f"  ({'; '.join(facts)})" if facts else "")


def lineage_tree(graph: LineageOut, title: str) -> Tree:
    nodes = {str(n["id"]): n for n in graph.nodes}
    children: dict[str, list[str]] = {key: [] for key in nodes}
    fed: set[str] = set()
    for edge in graph.edges:
        source, target = str(edge["from"]), str(edge["to"])
        if source in children and target in nodes:
            children[source].append(target)
            fed.add(target)
    tree = Tree(f"[bold]lineage of {escape(title)}[/]")
    drawn: set[str] = set()

    def grow(branch: Tree, key: str) -> None:
        if key in drawn:
            kind = str(nodes[key].get("kind", ""))
            name = f"{_KINDS.get(kind, kind)} {nodes[key].get('label', key)}"
            branch.add(f"[dim]{escape(name)} (above)[/]")
            return
        drawn.add(key)
        sub = branch.add(_describe(nodes[key]))
        for child in children[key]:
            grow(sub, child)

    for key in nodes:
        if key not in fed:
            grow(tree, key)
    for key in nodes:  # nodes only in a cycle: nothing starts them above
        if key not in drawn:
            grow(tree, key)
    return tree
