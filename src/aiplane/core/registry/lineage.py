"""Lineage graphs: dataset versions -> run -> model version -> deployments, both directions.

Pure: built from the records the service loads. Node ids are typed and unique across kinds
(``dataset:clicks@3``, ``run:<job>``, ``model:churn@4``, ``deployment:churn@4:job/<id>``);
edges follow the flow of data (a dataset version into the run that read it, the run into the
model version it made, the version into its deployments). ``to_dict`` is what the API sends
and the CLI draws as a tree; ``to_dot`` is Graphviz text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiplane.core.registry.records import (
    Alias,
    DatasetVersion,
    Deployment,
    ModelVersion,
    RunLineage,
)


class NodeKind(StrEnum):
    DATASET_VERSION = "dataset_version"
    RUN = "run"
    MODEL_VERSION = "model_version"
    DEPLOYMENT = "deployment"


class Relation(StrEnum):
    READ_BY = "read_by"  # dataset version -> the run that read it
    TRAINED = "trained"  # dataset version -> model version, when no run is recorded
    PRODUCED = "produced"  # run -> model version
    DEPLOYED_AS = "deployed_as"  # model version -> deployment


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    label: str
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    relation: Relation


@dataclass(frozen=True)
class LineageGraph:
    root: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, node_id: str) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def of_kind(self, kind: NodeKind) -> list[Node]:
        return [n for n in self.nodes if n.kind is kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": [
                {"id": n.id, "kind": n.kind.value, "label": n.label, "attrs": _plain(n.attrs)}
                for n in self.nodes
            ],
            "edges": [
                {"from": e.source, "to": e.target, "relation": e.relation.value} for e in self.edges
            ],
        }

    def to_dot(self) -> str:
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for n in self.nodes:
            shape = _SHAPES[n.kind]
            extra = ", penwidth=2" if n.id == self.root else ""
            lines.append(f"  {dot_quote(n.id)} [label={dot_quote(n.label)}, shape={shape}{extra}];")
        lines.extend(
            f"  {dot_quote(e.source)} -> {dot_quote(e.target)}"
            f" [label={dot_quote(e.relation.value)}];"
            for e in self.edges
        )
        lines.append("}")
        return "\n".join(lines) + "\n"


_SHAPES = {
    NodeKind.DATASET_VERSION: "cylinder",
    NodeKind.RUN: "ellipse",
    NodeKind.MODEL_VERSION: "box",
    NodeKind.DEPLOYMENT: "component",
}


def dot_quote(text: str) -> str:
    """``text`` as one DOT quoted string: quotes and backslashes escaped (a backslash would
    otherwise start a label escape such as ``\\N``), line breaks as ``\\n``, other control
    characters dropped."""
    out = []
    for ch in text:
        if ch in {'"', "\\"}:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch < " " or ch == "\x7f":
            continue
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _plain(value: Any) -> Any:
    """JSON-ready: mappings to dicts, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dataset_id(ref: str) -> str:
    return f"dataset:{ref}"


def model_id(ref: str) -> str:
    return f"model:{ref}"


def run_id(job_id: str) -> str:
    return f"run:{job_id}"


def deployment_id(d: Deployment) -> str:
    return f"deployment:{d.model}@{d.version}:{d.target}"


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str, Relation], Edge] = {}

    def add(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def link(self, source: str, target: str, relation: Relation) -> None:
        self.edges.setdefault((source, target, relation), Edge(source, target, relation))

    def graph(self, root: str) -> LineageGraph:
        return LineageGraph(root, tuple(self.nodes.values()), tuple(self.edges.values()))


def _dataset_node(ref: str, found: DatasetVersion | None) -> Node:
    if found is None:
        return Node(dataset_id(ref), NodeKind.DATASET_VERSION, ref, {"known": False})
    return Node(
        dataset_id(ref),
        NodeKind.DATASET_VERSION,
        ref,
        {
            "known": True,
            "artifact": found.artifact,
            "size": found.size,
            "file_count": found.file_count,
            "jurisdiction": found.jurisdiction,
        },
    )


def _model_node(version: ModelVersion, held_by: Collection[str] = ()) -> Node:
    return Node(
        model_id(version.ref),
        NodeKind.MODEL_VERSION,
        version.ref,
        {
            "artifact": version.artifact,
            "flavor": version.flavor.value,
            "author": version.created_by,
            "signed": version.signature is not None,
            "aliases": sorted(held_by),
        },
    )


def _run_node(run: RunLineage) -> Node:
    return Node(
        run_id(run.job_id),
        NodeKind.RUN,
        run.job_id,
        {
            "job_id": run.job_id,
            "code_ref": run.code_ref,
            "parameters": dict(run.parameters),
            "image": run.image,
        },
    )


def _deployment_node(d: Deployment) -> Node:
    return Node(
        deployment_id(d),
        NodeKind.DEPLOYMENT,
        d.target,
        {"at": d.at, "by": d.by, "verified": d.verified},
    )


def _held_by(version: ModelVersion, aliases: Iterable[Alias]) -> list[str]:
    return [a.name for a in aliases if (a.model, a.version) == (version.model, version.version)]


def _add_upstream(
    b: _Builder, version: ModelVersion, datasets: Mapping[str, DatasetVersion], node: str
) -> None:
    run = version.run
    into = node
    if run is not None:
        into = b.add(_run_node(run))
        b.link(into, node, Relation.PRODUCED)
    relation = Relation.READ_BY if run is not None else Relation.TRAINED
    for ref in version.inputs:
        b.link(b.add(_dataset_node(ref, datasets.get(ref))), into, relation)


def _add_deployments(
    b: _Builder, version: ModelVersion, deployments: Iterable[Deployment], node: str
) -> None:
    for d in deployments:
        if (d.model, d.version) == (version.model, version.version):
            b.link(node, b.add(_deployment_node(d)), Relation.DEPLOYED_AS)


def model_lineage(
    version: ModelVersion,
    datasets: Iterable[DatasetVersion] = (),
    deployments: Iterable[Deployment] = (),
    aliases: Iterable[Alias] = (),
) -> LineageGraph:
    """Both directions of one model version: its input dataset versions (those not among
    ``datasets`` marked ``known: False``) and the run that made it, and its deployments."""
    by_ref = {d.ref: d for d in datasets}
    b = _Builder()
    node = b.add(_model_node(version, _held_by(version, list(aliases))))
    _add_upstream(b, version, by_ref, node)
    _add_deployments(b, version, deployments, node)
    return b.graph(node)


def dataset_lineage(
    dataset: DatasetVersion,
    versions: Iterable[ModelVersion],
    deployments: Iterable[Deployment] = (),
    aliases: Iterable[Alias] = (),
) -> LineageGraph:
    """Downstream of a dataset version: the model versions made from it (each through its
    run when one is recorded), their deployments, and on each model version the aliases that
    hold it now (``aliases``: the models' current aliases)."""
    held = list(aliases)
    deployed = list(deployments)
    b = _Builder()
    root = b.add(_dataset_node(dataset.ref, dataset))
    for version in versions:
        if dataset.ref not in version.inputs:
            continue
        node = b.add(_model_node(version, _held_by(version, held)))
        if version.run is not None:
            run = b.add(_run_node(version.run))
            b.link(root, run, Relation.READ_BY)
            b.link(run, node, Relation.PRODUCED)
        else:
            b.link(root, node, Relation.TRAINED)
        _add_deployments(b, version, deployed, node)
    return b.graph(root)


def held_by_alias(graph: LineageGraph, alias: str) -> list[str]:
    """The model versions of ``graph`` that ``alias`` holds now (``used-by ... production``)."""
    return [
        n.label
        for n in graph.of_kind(NodeKind.MODEL_VERSION)
        if alias in n.attrs.get("aliases", ())
    ]


def lineage_gaps(version: ModelVersion, known_inputs: Collection[str]) -> tuple[str, ...]:
    """What keeps the version's lineage from being complete (the ``lineage`` rule, decision
    0045): a run with its code reference, at least one input, and every input a dataset
    version the registry knows (``known_inputs``)."""
    gaps = []
    if version.run is None:
        gaps.append("no run recorded")
    elif not version.run.code_ref:
        gaps.append(f"run {version.run.job_id} has no code reference")
    if not version.inputs:
        gaps.append("no input dataset version recorded")
    gaps.extend(
        f"input {ref} is not in the registry" for ref in version.inputs if ref not in known_inputs
    )
    return tuple(gaps)
