"""What an import from another registry (MLflow) reads, before the registry registers it.

An :class:`ImportedModel` is one registered model of the source with its versions and where
its aliases point; the importers (``aiplane.importers``) fill them, the import service turns
them into ``Model``/``ModelVersion`` records and alias moves. The mapping rules that do not
need the source are here, pure: names onto ours (:func:`local_name`), MLflow's legacy stages
onto aliases (:func:`stage_alias`, :func:`merge_aliases`), the flavour from an MLmodel
file's ``flavors`` (:func:`flavor_from_mlflow`) and its signature (:func:`io_signature`).
Decision 0046 says why each rule is what it is.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.errors import Problem, SpecError
from aiplane.core.registry.records import Flavor
from aiplane.core.registry.refs import LATEST, NAME_RE, NAME_RULE

MAX_NAME = 63
# An invalid character run swallows the hyphens beside it, so "My - Model" is "my-model",
# while a name that is already valid ("a--b") is kept as it is.
_INVALID_RUN = re.compile(r"-*(?:[^a-z0-9._-]-*)+")
_EDGE = "._-"

# MLflow's four stages (``current_stage``), case-insensitive; the two that mean "serving"
# become aliases, the other two none.
STAGE_ALIASES: Mapping[str, str | None] = {
    "production": "production",
    "staging": "staging",
    "archived": None,
    "none": None,
}

# The first MLflow flavour found in this order decides; ``python_function`` is every MLflow
# model's generic wrapper and says nothing about the files.
_FLAVORS: tuple[tuple[str, Flavor], ...] = (
    ("transformers", Flavor.HUGGINGFACE),
    ("onnx", Flavor.ONNX),
    ("pytorch", Flavor.PYTORCH),
    ("sklearn", Flavor.SKLEARN),
)


@dataclass(frozen=True)
class ImportedVersion:
    """One version of a source model: what its run recorded and where its files are."""

    source_version: int
    run_id: str | None
    flavor: Flavor
    metrics: Mapping[str, float] = field(default_factory=dict)  # the latest value of each
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    created_at: float = 0.0  # seconds since the epoch, as the source recorded it
    io_signature: Mapping[str, Any] = field(default_factory=dict)  # {"inputs": .., "outputs": ..}
    source_uri: str = ""  # where the source keeps the version's files


@dataclass(frozen=True)
class ImportedModel:
    """A source model under its local ``name`` (``source_name`` is the source's own);
    ``aliases`` are local alias names onto source version numbers."""

    name: str
    source_name: str
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    versions: tuple[ImportedVersion, ...] = ()
    aliases: Mapping[str, int] = field(default_factory=dict)


def local_name(mlflow_name: str, location: str = "name") -> str:
    """``mlflow_name`` under our name rule (``refs.NAME_RE``): accents dropped, lower case,
    each run of other characters one '-', trimmed of '.', '_', '-' at both ends, at most 63
    characters. Two source names may map onto one; reporting that is the caller's."""
    ascii_only = unicodedata.normalize("NFKD", mlflow_name).encode("ascii", "ignore").decode()
    dashed = _INVALID_RUN.sub("-", ascii_only.lower())
    name = dashed.strip(_EDGE)[:MAX_NAME].rstrip(_EDGE)
    if not NAME_RE.match(name):
        raise SpecError(
            "the name cannot be mapped onto an aiplane name",
            [Problem(location, "no letter or digit to keep", repr(mlflow_name), NAME_RULE)],
        )
    return name


def name_collisions(models: Iterable[ImportedModel], location: str = "models") -> list[Problem]:
    """One problem for each local name that more than one source model maps onto, naming
    them all: the import service refuses (or asks for a rename) before registering any."""
    sources: dict[str, list[str]] = {}
    for model in models:
        sources.setdefault(model.name, []).append(model.source_name)
    return [
        Problem(
            f"{location}.{name}",
            "several MLflow models map onto this name",
            ", ".join(repr(source) for source in sorted(names)),
            "one MLflow model per aiplane name: rename all but one in MLflow, or map them",
        )
        for name, names in sorted(sources.items())
        if len(names) > 1
    ]


def stage_alias(stage: str | None) -> str | None:
    """The alias an MLflow legacy stage becomes: Production -> ``production``, Staging ->
    ``staging``, Archived and None -> no alias."""
    key = (stage or "none").strip().lower()
    if key not in STAGE_ALIASES:
        raise SpecError(
            "unknown MLflow stage",
            [
                Problem(
                    "current_stage", "not an MLflow stage", repr(stage), ", ".join(STAGE_ALIASES)
                )
            ],
        )
    return STAGE_ALIASES[key]


def local_alias(mlflow_alias: str, location: str = "alias") -> str:
    """An MLflow alias under our name rule; never a name a reference reads otherwise
    (``latest``, a version number)."""
    alias = local_name(mlflow_alias, location)
    if alias == LATEST or alias.isdigit():
        raise SpecError(
            "the alias cannot be mapped onto an aiplane alias",
            [
                Problem(
                    location,
                    "reads as a version in a reference",
                    repr(mlflow_alias),
                    f"an alias other than '{LATEST}' or a number",
                )
            ],
        )
    return alias


def merge_aliases(
    aliases: Mapping[str, int], stages: Mapping[int, str | None], location: str = "aliases"
) -> dict[str, int]:
    """The local aliases of a model: its MLflow aliases (``alias -> version``) and, for each
    stage that maps onto an alias, the newest version in that stage (``version -> stage``).
    An MLflow alias wins over a stage of the same local name: aliases are what MLflow moved to
    when it deprecated stages, so a team that has both set the alias last."""
    merged: dict[str, int] = {}
    sources: dict[str, str] = {}
    for source, version in sorted(aliases.items()):
        alias = local_alias(source, f"{location}.{source}")
        if alias in merged:
            raise SpecError(
                "two MLflow aliases map onto one aiplane alias",
                [
                    Problem(
                        f"{location}.{source}",
                        f"maps onto {alias!r}, as {sources[alias]!r} does",
                        repr(source),
                        "aliases that differ in more than case and punctuation",
                    )
                ],
            )
        merged[alias] = version
        sources[alias] = source
    for version, stage in sorted(stages.items()):
        staged = stage_alias(stage)
        if staged is not None and staged not in sources:
            merged[staged] = max(version, merged.get(staged, version))
    return merged


def flavor_from_mlflow(flavors: Iterable[str]) -> Flavor:
    """Our flavour for an MLmodel file's ``flavors`` keys: transformers -> huggingface, onnx,
    pytorch, sklearn; anything else generic."""
    present = set(flavors)
    for key, flavor in _FLAVORS:
        if key in present:
            return flavor
    return Flavor.GENERIC


def io_signature(signature: Mapping[str, Any] | None) -> dict[str, Any]:
    """An MLmodel file's ``signature`` (``inputs``/``outputs``/``params`` as JSON strings) as
    plain data; no signature, an empty mapping."""
    if not signature:
        return {}
    parsed: dict[str, Any] = {}
    for key in ("inputs", "outputs", "params"):
        value = signature.get(key)
        if value is None:
            continue
        try:
            parsed[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as error:
            raise SpecError(
                "the MLmodel signature is not JSON",
                [Problem(f"MLmodel.signature.{key}", str(error), repr(value)[:80], "JSON")],
            ) from None
    return parsed
