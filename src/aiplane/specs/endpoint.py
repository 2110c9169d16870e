"""``endpoint.yaml`` to a core :class:`~aiplane.core.serving.endpoints.EndpointSpec`.

An endpoint serves a registry model (``model: fraud@production``) with aiplane's model server,
or runs a ``command`` of another server that listens on ``$AIPLANE_PORT``. Its sites are named
(``sites: [{site, min, max}]``) or chosen by placement (``placement: {sites, min, max}``, the
cheapest that meet ``latency_slo_ms``). ``resources`` are a replica's, written as a workload's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiplane.core.guards.policy import GuardPolicy
from aiplane.core.guards.types import GuardAction
from aiplane.core.registry.refs import parse_ref
from aiplane.core.serving.endpoints import (
    PORT_ENV,
    Access,
    AutoPlacement,
    Autoscale,
    EndpointSpec,
    KeyLimits,
    Protocol,
    ScaleMetric,
    SiteReplicas,
    Traffic,
)
from aiplane.specs.common import joined_workdir
from aiplane.specs.endpoint_models import EndpointDocument, GuardsSpec, VersionWeight
from aiplane.specs.errors import Loc, Problems, validate
from aiplane.specs.loader import read_yaml
from aiplane.specs.shorthand import format_accelerator
from aiplane.specs.workload import parse_accelerators
from aiplane.specs.workload_models import ENV_NAME

_ENV_NAME = re.compile(ENV_NAME)
# Label keys aiplane sets on an endpoint's replica jobs: a user's label may not shadow them.
RESERVED_LABEL_PREFIX = "aiplane."


def load_endpoint(path: str | Path) -> EndpointSpec:
    """Read, check and convert an endpoint file."""
    return endpoint_from_document(read_yaml(path), str(path))


def endpoint_from_document(
    document: Any, source_name: str, workdir: str | None = None
) -> EndpointSpec:
    """A core endpoint spec from an endpoint document; every problem in one SpecError.
    ``workdir`` is the folder a command endpoint's command runs in unless the document names
    one (a relative ``workdir`` in the document is joined to it), as for workloads."""
    spec = validate(EndpointDocument, document, source_name, "endpoint spec")
    problems = Problems(source_name)
    options = parse_accelerators(
        spec.resources.accelerators, ["resources", "accelerators"], problems
    )
    _serve_problems(spec, problems)
    sites = _sites(spec, problems)
    placement = None
    if spec.placement is not None:
        p = spec.placement
        _bounds(p.min, p.max, ["placement"], problems)
        placement = AutoPlacement(p.sites, p.min, p.max)
    for key in spec.env:
        if not _ENV_NAME.fullmatch(key):
            problems.add(
                ["env", key],
                "not a valid environment variable name",
                key,
                "letters, digits and '_', not starting with a digit",
            )
        elif key == PORT_ENV:
            problems.add(
                ["env", key], "set by the backend for each replica", key, "another variable name"
            )
    for key in spec.labels:
        if key.startswith(RESERVED_LABEL_PREFIX):
            problems.add(
                ["labels", key],
                f"label keys starting with {RESERVED_LABEL_PREFIX!r} are aiplane's own",
                key,
                "another label key",
            )
    traffic = _traffic(spec, problems)
    limits = spec.limits
    if limits.burst is not None and limits.requests_per_s is None:
        problems.add(
            ["limits", "burst"],
            "a burst needs a rate to refill it",
            limits.burst,
            "requests_per_s beside burst, or no burst",
        )
    guards = _guards(spec, problems)
    problems.raise_if_any("endpoint spec")
    return EndpointSpec(
        name=spec.name,
        team=spec.team,
        protocol=Protocol(spec.protocol),
        model=spec.model,
        command=spec.command.strip() if spec.command is not None else None,
        sites=sites,
        placement=placement,
        latency_slo_ms=dict(spec.latency_slo_ms),
        cpus=spec.resources.cpus,
        memory_gib=spec.resources.memory_gib,
        accelerators=options,
        autoscale=Autoscale(
            ScaleMetric(spec.autoscale.metric),
            spec.autoscale.target,
            spec.autoscale.scale_down_after,
        ),
        traffic=traffic,
        access=Access(
            tuple(spec.access.teams), tuple(spec.access.principals), tuple(spec.access.tokens)
        ),
        limits=KeyLimits(
            limits.requests_per_s, limits.burst, limits.requests_per_day, limits.tokens_per_day
        ),
        guards=guards,
        readiness_path=spec.readiness_path,
        drain_s=spec.drain,
        env=dict(spec.env),
        labels=dict(spec.labels),
        workdir=joined_workdir(spec.workdir, workdir) if spec.command is not None else None,
    )


def _serve_problems(spec: EndpointDocument, problems: Problems) -> None:
    """One of ``model`` and ``command``, not both, and a command that says something."""
    if spec.model is None and spec.command is None:
        problems.add(
            ["model"],
            "the endpoint serves nothing",
            None,
            "model (a registry reference, e.g. fraud@production) or command (a server)",
            show_given=False,
        )
    elif spec.model is not None and spec.command is not None:
        problems.add(
            ["command"],
            "both model and command are given",
            spec.command,
            "one of them: model for aiplane's model server, command for another server",
        )
    elif spec.command is not None and not spec.command.strip():
        problems.add(["command"], "the command is empty", spec.command, "a shell command")


def _sites(spec: EndpointDocument, problems: Problems) -> tuple[SiteReplicas, ...]:
    if spec.sites and spec.placement is not None:
        problems.add(
            ["placement"],
            "both sites and placement are given",
            None,
            "sites (named) or placement (chosen from latency_slo_ms and cost), not both",
            show_given=False,
        )
    if not spec.sites and spec.placement is None:
        problems.add(
            ["sites"],
            "the endpoint serves nowhere",
            None,
            "sites: [{site, min, max}] or placement: {sites, min, max}",
            show_given=False,
        )
    seen: dict[str, int] = {}
    out = []
    for i, site in enumerate(spec.sites):
        if site.site in seen:
            problems.add(
                ["sites", i, "site"],
                f"site listed twice (also sites[{seen[site.site]}])",
                site.site,
                "each site once",
            )
            continue
        seen[site.site] = i
        _bounds(site.min, site.max, ["sites", i], problems)
        out.append(SiteReplicas(site.site, site.min, site.max))
    return tuple(out)


def _bounds(low: int, high: int, loc: Loc, problems: Problems) -> None:
    if low > high:
        problems.add([*loc, "max"], f"below min ({low})", high, f"a number >= {low}")
    elif high == 0:
        problems.add([*loc, "max"], "no replica could ever run", high, "a number >= 1")


def _action(value: str | None) -> GuardAction | None:
    return None if value is None else GuardAction(value)


def _guards(spec: EndpointDocument, problems: Problems) -> GuardPolicy:
    """The guards section as a policy; what only makes sense beside another field is
    checked here (the shape of each field is the model's)."""
    g: GuardsSpec = spec.guards
    given = g.model_fields_set
    if g.pii_types and g.pii is None and g.output_pii is None:
        problems.add(
            ["guards", "pii_types"],
            "PII types narrow the PII guards, and none is on",
            g.pii_types,
            "pii or output_pii beside pii_types, or no pii_types",
        )
    if "restore_pii" in given and g.pii != "redact":
        problems.add(
            ["guards", "restore_pii"],
            "only a redacted request has originals to restore",
            g.restore_pii,
            "pii: redact beside restore_pii, or no restore_pii",
        )
    if g.canary is not None and spec.protocol != "openai":
        problems.add(
            ["guards", "canary"],
            "the canary is planted in a chat's system prompt, which only an OpenAI endpoint has",
            g.canary,
            "protocol: openai, or no canary",
        )
    return GuardPolicy(
        injection=_action(g.injection),
        pii=_action(g.pii),
        pii_types=tuple(dict.fromkeys(g.pii_types)),
        restore_pii=g.restore_pii,
        output_pii=_action(g.output_pii),
        canary=_action(g.canary),
    )


def _traffic(spec: EndpointDocument, problems: Problems) -> Traffic:
    """Canary and shadow: versions of the endpoint's own model."""
    given = {"canary": spec.traffic.canary, "shadow": spec.traffic.shadow}
    for role, second in given.items():
        if second is not None:
            _second_version(spec, role, second, problems)
    canary, shadow = spec.traffic.canary, spec.traffic.shadow
    return Traffic(
        canary=canary.version if canary else None,
        canary_weight=canary.weight if canary else 0.0,
        shadow=shadow.version if shadow else None,
        shadow_weight=shadow.weight if shadow else 0.0,
    )


def _second_version(
    spec: EndpointDocument, role: str, second: VersionWeight, problems: Problems
) -> None:
    loc: Loc = ["traffic", role, "version"]
    if spec.model is None:
        problems.add(
            loc,
            f"a {role} needs a model endpoint (versions are of the endpoint's model)",
            second.version,
            "a model endpoint, or no traffic section",
        )
        return
    name = parse_ref(spec.model).name
    if parse_ref(second.version).name != name:
        problems.add(
            loc,
            f"not a version of the endpoint's model {name}",
            second.version,
            f"{name}@N or {name}@alias",
        )
    elif second.version == spec.model:
        problems.add(
            loc,
            "the same reference as the primary's model",
            second.version,
            f"another version of {name}",
        )


def endpoint_to_document(spec: EndpointSpec) -> dict[str, Any]:
    """The document of ``spec``, as ``endpoint.yaml`` writes it: what ``endpoint_from_document``
    reads back to the same spec. Fields at their defaults are left out."""
    doc: dict[str, Any] = {"kind": "Endpoint", "name": spec.name, "team": spec.team}
    doc["protocol"] = str(spec.protocol)
    if spec.model is not None:
        doc["model"] = spec.model
    if spec.command is not None:
        doc["command"] = spec.command
    doc.update(_where_document(spec))
    resources: dict[str, Any] = {"cpus": spec.cpus, "memory_gib": spec.memory_gib}
    if spec.accelerators:
        resources["accelerators"] = [format_accelerator(o) for o in spec.accelerators]
    doc["resources"] = resources
    a = spec.autoscale
    doc["autoscale"] = {
        "metric": str(a.metric),
        "target": a.target,
        "scale_down_after": a.scale_down_after_s,
    }
    traffic = _traffic_document(spec.traffic)
    if traffic:
        doc["traffic"] = traffic
    access = {k: list(v) for k, v in vars(spec.access).items() if v}
    if access:
        doc["access"] = access
    limits = {k: v for k, v in vars(spec.limits).items() if v is not None}
    if limits:
        doc["limits"] = limits
    guards = guards_document(spec.guards)
    if guards:
        doc["guards"] = guards
    if spec.readiness_path is not None:
        doc["readiness_path"] = spec.readiness_path
    doc["drain"] = spec.drain_s
    if spec.workdir is not None:
        doc["workdir"] = spec.workdir
    if spec.env:
        doc["env"] = dict(spec.env)
    if spec.labels:
        doc["labels"] = dict(spec.labels)
    return doc


def guards_document(policy: GuardPolicy) -> dict[str, Any]:
    """The guards section as ``endpoint.yaml`` writes it: the guards that run, the PII types
    when narrowed, and ``restore_pii`` where it applies (``pii: redact``)."""
    doc: dict[str, Any] = {}
    for name in ("injection", "pii", "output_pii", "canary"):
        action = getattr(policy, name)
        if action is not None:
            doc[name] = str(action)
    if policy.pii_types:
        doc["pii_types"] = list(policy.pii_types)
    if policy.pii is GuardAction.REDACT:
        doc["restore_pii"] = policy.restore_pii
    return doc


def _where_document(spec: EndpointSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if spec.sites:
        doc["sites"] = [
            {"site": s.site, "min": s.min_replicas, "max": s.max_replicas} for s in spec.sites
        ]
    if spec.placement is not None:
        p = spec.placement
        doc["placement"] = {"sites": p.sites, "min": p.min_replicas, "max": p.max_replicas}
    if spec.latency_slo_ms:
        doc["latency_slo_ms"] = dict(spec.latency_slo_ms)
    return doc


def _traffic_document(t: Traffic) -> dict[str, Any]:
    traffic: dict[str, Any] = {}
    if t.canary is not None:
        traffic["canary"] = {"version": t.canary, "weight": t.canary_weight}
    if t.shadow is not None:
        traffic["shadow"] = {"version": t.shadow, "weight": t.shadow_weight}
    return traffic
