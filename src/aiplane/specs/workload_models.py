"""The shape of ``workload.yaml``: pydantic models checked field by field.

The accelerator shorthand, the priority class and the run command are checked when the document
is converted to a core :class:`~aiplane.core.workloads.Workload` in :mod:`aiplane.specs.workload`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from aiplane.core.errors import SpecError
from aiplane.core.registry.refs import parse_ref
from aiplane.core.sizes import BYTES_ALLOWED
from aiplane.core.workloads import (
    CPU_SECONDS_MAX,
    OPEN_FILES_MAX,
    PRIORITY_CLASSES,
    PROCESSES_MAX,
)
from aiplane.specs.common import NAME_PATTERN, Name, Positive, SpecModel, Text
from aiplane.specs.shorthand import GRAMMAR

PRIORITY_ALLOWED = ", ".join(PRIORITY_CLASSES) + ", or a whole number >= 0"
SPOT_ALLOWED = "never, allowed, required (true means allowed, false never)"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

# Bounds on the free-text fields (characters; decision 0028). Every job is stored, listed and
# sent back with its workload, so one huge field slows every listing: a command longer than
# this belongs in a script the command runs.
RUN_MAX_CHARS = 8 * 1024
ENV_VALUE_MAX_CHARS = 4 * 1024
ENV_MAX_VARIABLES = 256
WORKDIR_MAX_CHARS = 4 * 1024
LABEL_VALUE_MAX_CHARS = 1024

_FLEET_NAME = re.compile(NAME_PATTERN)
INPUTS_ALLOWED = "a list of dataset references: name, name@N (a version) or name@latest"


def _dataset_ref(text: str) -> str:
    """``text`` if it names a dataset version: a bare name, ``name@N`` or ``name@latest``.

    Aliases are refused for datasets for now: the fleet's datasets have none, and a version
    that an alias names could move under a queued job without the job knowing."""
    if "@" not in text and _FLEET_NAME.fullmatch(text):
        return text  # every name a fleet dataset may have, as before references
    try:
        ref = parse_ref(text)
    except SpecError as exc:
        raise ValueError("; ".join(p.message for p in exc.problems) or exc.message) from None
    if ref.alias is not None:
        raise ValueError(
            f"an alias ({ref.alias!r}) is not accepted for a dataset yet: "
            f"name a version ({ref.name}@N) or the latest ({ref.name} or {ref.name}@latest)"
        )
    return text


DatasetRef = Annotated[str, AfterValidator(_dataset_ref)]


def _model_ref(text: str) -> str:
    """``text`` if it names a model version: ``name@N``, ``name@alias`` or ``name``."""
    try:
        parse_ref(text)
    except SpecError as exc:
        raise ValueError("; ".join(p.message for p in exc.problems) or exc.message) from None
    return text


ModelRef = Annotated[str, AfterValidator(_model_ref)]
MODEL_ALLOWED = "a model reference: name@N, name@alias (e.g. fraud@production) or name"


class OutputSpec(SpecModel):
    """A folder the run writes that is registered as a version of ``model`` when the run
    succeeds, with the run's lineage."""

    model: Name
    path: str = Field(
        min_length=1,
        max_length=WORKDIR_MAX_CHARS,
        description="a folder, relative to the workdir (or absolute)",
    )
    flavor: Literal["sklearn", "onnx", "pytorch", "huggingface", "generic"] | None = Field(
        None, description="sklearn, onnx, pytorch, huggingface, generic; absent: from the files"
    )


EnvValue = Annotated[
    str,
    Field(max_length=ENV_VALUE_MAX_CHARS, description=f"at most {ENV_VALUE_MAX_CHARS} characters"),
]
LabelValue = Annotated[
    str,
    Field(
        max_length=LABEL_VALUE_MAX_CHARS, description=f"at most {LABEL_VALUE_MAX_CHARS} characters"
    ),
]


def _whole(low: int, high: int, what: str) -> Any:
    return Field(None, ge=low, le=high, description=f"{what}: a whole number from {low} to {high}")


class LimitsSpec(SpecModel):
    """Per-process limits on the command (Kubernetes' ``resources.limits`` word, ulimit's
    meanings); each absent means no limit."""

    cpu_seconds: int | None = _whole(1, CPU_SECONDS_MAX, "CPU time in seconds")
    memory: int | str | None = Field(None, description=BYTES_ALLOWED)
    open_files: int | None = _whole(1, OPEN_FILES_MAX, "open file descriptors")
    processes: int | None = _whole(1, PROCESSES_MAX, "processes of the user it runs as")

    @field_validator("memory", mode="before")
    @classmethod
    def _int_or_text(cls, value: Any) -> Any:
        """One message for the union, not one per member (``memory.int``, ``memory.str``)."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("expected a whole number of bytes or a string such as 8Gi")


class ResourcesSpec(SpecModel):
    accelerators: str | list[str] | None = Field(
        None,
        description=f"{GRAMMAR}, a list of them, or absent for CPU-only work",
    )
    cpus: Positive = 1.0
    memory_gib: Positive = 1.0
    limits: LimitsSpec = Field(default_factory=LimitsSpec)

    @field_validator("accelerators", mode="before")
    @classmethod
    def _string_or_list(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
        raise ValueError("expected an accelerator string or a non-empty list of them")


NO_LIMIT = "leave the field out for no limit"
INFRA_ALLOWED = (
    "cloud or cloud/region (SkyPilot's infra, e.g. gcp/us-central1; * for any cloud: "
    "*/us-east-1), without clouds or regions"
)


def _listed(what: str) -> Any:
    """A constraint list: absent means no limit, and ``[]`` is refused (decision 0040)."""
    return Field(default_factory=list, description=f"a non-empty list of {what}; {NO_LIMIT}")


class ConstraintsSpec(SpecModel):
    """Where the work may run; each field absent means no limit. A list given must name
    something: ``[]`` reads as "nowhere" to some and "anywhere" to others, so it is refused."""

    jurisdictions: list[Text] = _listed("jurisdictions")
    site_kinds: list[Literal["cloud", "onprem", "edge"]] = Field(
        default_factory=list, description=f"cloud, onprem, edge (a non-empty list); {NO_LIMIT}"
    )
    sites: list[Name] = _listed("site names")
    clouds: list[Text] = _listed("clouds, the fleet sites' providers (gcp, azure, aws, ...)")
    regions: list[Text] = _listed("regions, as the fleet's sites name them (us-central1, ...)")
    infra: str | None = Field(None, min_length=1, description=INFRA_ALLOWED)
    max_usd_per_hour: Positive | None = None
    latency_slo_ms: dict[str, Positive] = Field(
        default_factory=dict,
        description="a mapping of user region -> milliseconds (numbers > 0)",
    )

    @field_validator("jurisdictions", "site_kinds", "sites", "clouds", "regions", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("an empty list is refused: it is not 'no limit'")
        return value


class WorkloadDocument(SpecModel):
    name: Name
    team: Name
    kind: Literal["train", "finetune", "batch", "serve"] = Field(
        description="train, finetune, batch, serve"
    )
    run: str = Field(
        max_length=RUN_MAX_CHARS,
        description=f"a non-empty shell command of at most {RUN_MAX_CHARS} characters",
    )
    priority: str | int = Field("normal", description=PRIORITY_ALLOWED)
    replicas: int = Field(1, ge=1, description="a whole number >= 1")
    pack: bool = Field(
        False,
        description="true lets replicas share a rented instance; false (the default) "
        "gives each replica an instance of its own on on-demand and spot capacity",
    )
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    estimated_hours: Positive | None = None
    checkpoint_minutes: Positive | None = None
    spot: Literal["never", "allowed", "required"] = Field("allowed", description=SPOT_ALLOWED)
    inputs: list[DatasetRef] = Field(default_factory=list, description=INPUTS_ALLOWED)
    model: ModelRef | None = Field(
        None, description=MODEL_ALLOWED + ": its files are verified and given to the run"
    )
    outputs: list[OutputSpec] = Field(
        default_factory=list, max_length=16, description="folders registered as model versions"
    )
    constraints: ConstraintsSpec = Field(default_factory=ConstraintsSpec)
    env: dict[str, EnvValue] = Field(
        default_factory=dict,
        max_length=ENV_MAX_VARIABLES,
        description=f"a mapping of variable name -> value, at most {ENV_MAX_VARIABLES} of them",
    )
    workdir: str | None = Field(
        None,
        min_length=1,
        max_length=WORKDIR_MAX_CHARS,
        description=f"a directory path of at most {WORKDIR_MAX_CHARS} characters",
    )
    # Refused when true (``workload.py``): read and named, not silently ignored.
    allow_multi_site: bool = Field(False, description="false")
    project: Name | None = Field(None, description="a project name, for budgets and reports")
    labels: dict[Name, LabelValue] = Field(
        default_factory=dict,
        description="a mapping of label -> value (e.g. model: llama-3-8b, for cost reports)",
    )

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        if isinstance(value, str) and value in PRIORITY_CLASSES:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ValueError("not a priority class or a whole number >= 0")

    @field_validator("spot", mode="before")
    @classmethod
    def _spot(cls, value: Any) -> Any:
        if value is True:
            return "allowed"
        if value is False:
            return "never"
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        """Numbers and booleans in YAML are written as the strings a shell would see."""
        if not isinstance(value, dict):
            return value
        return {key: _as_shell_text(item) for key, item in value.items()}


def _as_shell_text(item: Any) -> Any:
    """A YAML boolean or number as the text a shell would see; anything else unchanged."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return str(item)
    return item
