"""``workload.yaml`` to a core :class:`~aiplane.core.workloads.Workload`.

``resources.accelerators`` uses the shorthand of :mod:`aiplane.specs.shorthand`, as one string
or a list of acceptable types (``["H100:8", "A100-80GB:8@0.45"]``); absent means CPU-only.
``priority`` is a class name (low, normal, high, critical) or a number. ``spot: true`` means
``allowed`` and ``false`` means ``never``. A relative ``workdir`` is taken relative to the
directory of the workload file, which is also the default working directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiplane.core.registry.refs import LATEST
from aiplane.core.sizes import BYTES_ALLOWED, parse_bytes
from aiplane.core.workloads import (
    MEMORY_MAX_BYTES,
    MEMORY_MIN_BYTES,
    PRIORITY_CLASSES,
    AcceleratorOption,
    Constraints,
    ModelOutput,
    ProcessLimits,
    SpotPolicy,
    Workload,
    WorkloadKind,
)
from aiplane.specs.common import joined_workdir
from aiplane.specs.errors import Loc, Problems, validate
from aiplane.specs.loader import read_yaml
from aiplane.specs.shorthand import ShorthandError, parse_accelerator
from aiplane.specs.workload_models import (
    ENV_NAME,
    INFRA_ALLOWED,
    ConstraintsSpec,
    LimitsSpec,
    WorkloadDocument,
)

_ENV_NAME = re.compile(ENV_NAME)


def load_workload_document(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in ``path`` (not yet checked), or a SpecError."""
    return read_yaml(path)


def load_workload(path: str | Path) -> Workload:
    """Read, check and convert a workload file; its directory is the default working directory."""
    document = read_yaml(path)
    return workload_from_document(document, str(path), str(Path(path).resolve().parent))


def workload_from_document(document: Any, source_name: str, workdir: str | None = None) -> Workload:
    """A core workload from a workload document; every problem in one :class:`SpecError`.

    ``workdir`` is the directory the command runs in unless the document names one (a relative
    ``workdir`` in the document is joined to it)."""
    spec = validate(WorkloadDocument, document, source_name, "workload spec")
    problems = Problems(source_name)
    options = parse_accelerators(
        spec.resources.accelerators, ["resources", "accelerators"], problems
    )
    limits = _limits(spec.resources.limits, ["resources", "limits"], problems)
    if not spec.run.strip():
        problems.add(["run"], "the command is empty", spec.run, "a non-empty shell command")
    for key in spec.env:
        if not _ENV_NAME.fullmatch(key):
            problems.add(
                ["env", key],
                "not a valid environment variable name",
                key,
                "letters, digits and '_', not starting with a digit",
            )
    if spec.allow_multi_site:
        problems.add(
            ["allow_multi_site"],
            "not supported: a run is placed in one pool today, so its replicas never span sites",
            spec.allow_multi_site,
            "false (or leave it out)",
        )
    seen: dict[str, int] = {}
    for i, text in enumerate(spec.inputs):
        key = _input_key(text)
        if key in seen:
            problems.add(
                ["inputs", i],
                f"dataset listed twice (also inputs[{seen[key]}])",
                text,
                "each dataset version once",
            )
        else:
            seen[key] = i
    c = spec.constraints
    clouds, regions = _places(c, ["constraints"], problems)
    problems.raise_if_any("workload spec")
    priority = spec.priority if isinstance(spec.priority, int) else PRIORITY_CLASSES[spec.priority]
    return Workload(
        name=spec.name,
        team=spec.team,
        kind=WorkloadKind(spec.kind),
        run=spec.run.strip(),
        replicas=spec.replicas,
        accelerators=options,
        cpus=spec.resources.cpus,
        memory_gib=spec.resources.memory_gib,
        priority=priority,
        estimated_hours=spec.estimated_hours,
        checkpoint_minutes=spec.checkpoint_minutes,
        spot=SpotPolicy(spec.spot),
        inputs=tuple(spec.inputs),
        model=spec.model,
        outputs=tuple(ModelOutput(o.model, o.path, o.flavor) for o in spec.outputs),
        pack=spec.pack,
        constraints=Constraints(
            jurisdictions=tuple(c.jurisdictions),
            site_kinds=tuple(c.site_kinds),
            sites=tuple(c.sites),
            clouds=clouds,
            regions=regions,
            infra=c.infra,
            max_usd_per_hour=c.max_usd_per_hour,
            latency_slo_ms=dict(c.latency_slo_ms),
        ),
        env=dict(spec.env),
        workdir=joined_workdir(spec.workdir, workdir),
        project=spec.project,
        labels=dict(spec.labels),
        limits=limits,
    )


def _places(
    spec: ConstraintsSpec, loc: Loc, problems: Problems
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The clouds (lower case) and regions the work may run in, from ``clouds`` and
    ``regions`` or from SkyPilot's ``infra`` (``cloud``, ``cloud/region``, ``*/region``),
    adding a problem for an ``infra`` that cannot be read or that the lists contradict."""
    if spec.infra is None:
        return tuple(dict.fromkeys(c.lower() for c in spec.clouds)), tuple(spec.regions)
    at = [*loc, "infra"]
    if spec.clouds or spec.regions:
        both = " and ".join(f for f in ("clouds", "regions") if getattr(spec, f))
        problems.add(
            at,
            f"infra together with {both} is ambiguous: say where in one way",
            spec.infra,
            "infra alone, or clouds and regions without infra",
        )
        return (), ()
    parts = spec.infra.strip().split("/")
    if len(parts) > 2:
        problems.add(
            at,
            "a zone is not supported: aiplane places work in regions, not zones",
            spec.infra,
            INFRA_ALLOWED,
        )
        return (), ()
    if any(not p.strip() for p in parts):
        problems.add(at, "a part is empty", spec.infra, INFRA_ALLOWED)
        return (), ()
    cloud, region = parts[0].strip().lower(), parts[1].strip() if len(parts) == 2 else "*"
    return (() if cloud == "*" else (cloud,)), (() if region == "*" else (region,))


def _input_key(text: str) -> str:
    """One key per dataset version an input names (a reference the document model passed):
    ``clicks`` and ``clicks@latest`` are one input; ``clicks@2`` and ``clicks@3`` are two."""
    name, _, after = text.partition("@")
    return name if after in ("", LATEST) else f"{name}@{int(after)}"


def _limits(spec: LimitsSpec, loc: Loc, problems: Problems) -> ProcessLimits:
    """The limits in ``spec``, adding a problem for a memory amount that cannot be one."""
    memory: int | None = None
    if spec.memory is not None:
        low, high = MEMORY_MIN_BYTES, MEMORY_MAX_BYTES
        try:
            memory = parse_bytes(spec.memory)
        except ValueError as exc:
            problems.add([*loc, "memory"], str(exc), spec.memory, BYTES_ALLOWED)
        else:
            if not low <= memory <= high:
                problems.add(
                    [*loc, "memory"],
                    "out of range",
                    spec.memory,
                    f"from 16Mi ({low} bytes) to {high} bytes",
                )
                memory = None
    return ProcessLimits(spec.cpu_seconds, memory, spec.open_files, spec.processes)


def parse_accelerators(
    value: str | list[str] | None, loc: Loc, problems: Problems
) -> tuple[AcceleratorOption, ...]:
    """Shorthand items to options, adding a problem (at ``loc`` or ``loc[i]``) for each bad one."""
    if value is None:
        return ()
    items: list[tuple[Loc, str]] = (
        [(loc, value)] if isinstance(value, str) else [([*loc, i], v) for i, v in enumerate(value)]
    )
    options: list[AcceleratorOption] = []
    for item_loc, text in items:
        try:
            option = parse_accelerator(text)
        except ShorthandError as exc:
            problems.add(item_loc, exc.message, exc.given, exc.allowed)
            continue
        if any(o.name == option.name for o in options):
            problems.add(
                item_loc, f"{option.name} is listed twice", text, "each accelerator type once"
            )
            continue
        options.append(option)
    return tuple(options)
