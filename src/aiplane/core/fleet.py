"""Sites, pools, nodes, pricing, teams and datasets: the capacity aiplane places work on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from aiplane.core.budgets import Budget
from aiplane.core.errors import SpecError
from aiplane.core.registry.refs import Ref, parse_ref
from aiplane.core.resources import Resources


class SiteKind(StrEnum):
    CLOUD = "cloud"
    ONPREM = "onprem"
    EDGE = "edge"


class PricingModel(StrEnum):
    OWNED = "owned"
    ON_DEMAND = "on_demand"
    SPOT = "spot"
    RESERVED = "reserved"


@dataclass(frozen=True)
class Pricing:
    """What one node of a pool costs per hour, and how.

    ``usd_per_node_hour`` is the marginal rate: amortised capex plus power for owned capacity,
    the list or spot price for cloud capacity, and for reserved capacity the rate paid once the
    prepaid commitment is used up (zero marginal cost until then is the cost model's business).
    """

    model: PricingModel
    usd_per_node_hour: float
    interruption_rate_per_hour: float = 0.0
    source: str = "spec"  # "spec" or "catalog:<file>"
    # A reserved pool's prepaid commitment: GPU-hours per calendar month at this effective
    # rate (None: at the marginal rate per GPU). Zero means no commitment is modelled.
    reserved_gpu_hours_per_month: float = 0.0
    reserved_usd_per_gpu_hour: float | None = None


@dataclass(frozen=True)
class NodeShape:
    accelerator: str | None  # canonical accelerator name; None for CPU-only nodes
    gpus: int
    cpus: float
    memory_gib: float
    # ``accelerator: auto`` in a local pool: the server fills in the GPUs it detects.
    auto_detect: bool = False

    @property
    def capacity(self) -> Resources:
        return Resources(float(self.gpus), self.cpus, self.memory_gib)


@dataclass(frozen=True)
class Pool:
    site: str
    name: str
    backend: str
    node: NodeShape
    nodes_min: int
    nodes_max: int
    pricing: Pricing
    instance_type: str | None = None
    # Settings for the pool's backend (a cluster address, a partition, a namespace): JSON
    # values that the backend itself checks when the fleet is applied.
    backend_config: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def key(self) -> str:
        return f"{self.site}/{self.name}"

    @property
    def elastic(self) -> bool:
        return self.nodes_min != self.nodes_max

    @property
    def emulated(self) -> bool:
        return self.backend == "emulated"

    @property
    def rented(self) -> bool:
        """Nodes rented by the hour (on-demand or spot): each is an instance that the cloud
        bills whole from its start to its stop, whatever share of it is used."""
        return self.pricing.model in (PricingModel.ON_DEMAND, PricingModel.SPOT)

    def always_up(self, index: int) -> bool:
        """Whether node ``index`` runs whatever the load: every node of a fixed pool, the
        first ``nodes_min`` of an elastic one. Others are started for work and stopped idle."""
        return not self.elastic or index < self.nodes_min

    def always_up_node(self, node_id: str) -> bool:
        """:meth:`always_up` for a node named as :meth:`node_ids` names them (an id of another
        form, such as a local host's, counts as always up)."""
        if not self.elastic:
            return True
        index = node_id.rsplit("/", 1)[-1]
        return not index.isdigit() or self.always_up(int(index))

    def node_ids(self) -> Iterator[str]:
        """Node identifiers; an elastic pool exposes its maximum (emulated capacity is instant)."""
        for i in range(self.nodes_max):
            yield f"{self.key}/{i}"

    def usd_per_hour_for(self, need: Resources) -> float:
        """Price of ``need`` on one node, by its dominant share of the node."""
        cap = self.node.capacity
        shares = [
            need.gpus / cap.gpus if cap.gpus else 0.0,
            need.cpus / cap.cpus if cap.cpus else 0.0,
            need.memory_gib / cap.memory_gib if cap.memory_gib else 0.0,
        ]
        return self.pricing.usd_per_node_hour * max(shares)


@dataclass(frozen=True)
class Site:
    name: str
    kind: SiteKind
    region: str
    jurisdiction: str
    pools: tuple[Pool, ...]
    provider: str | None = None
    egress_usd_per_gb: float = 0.0
    latency_ms: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Team:
    name: str
    cohort: str | None = None
    quota: Mapping[str, float] = field(default_factory=dict)
    borrowing_limit: Mapping[str, float] = field(default_factory=dict)
    lending_limit: Mapping[str, float] = field(default_factory=dict)
    budget_usd_per_month: float | None = None


@dataclass(frozen=True)
class Dataset:
    """A dataset (one version of it, when ``version`` is given) as placement weighs it.

    ``site`` is the primary copy's; ``replicas`` are every site that holds a copy, the primary
    first (it is added when missing, so ``Dataset(name, site, size)`` still means one copy).
    """

    name: str
    site: str
    size_gb: float
    jurisdiction: str | None = None
    content_hash: str | None = None
    version: int | None = None
    replicas: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        others = tuple(dict.fromkeys(r for r in self.replicas if r != self.site))
        object.__setattr__(self, "replicas", (self.site, *others))

    @property
    def ref(self) -> str:
        """``name@N`` for a version, the bare name for a dataset declared without one."""
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Fleet:
    sites: tuple[Site, ...] = ()
    teams: tuple[Team, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def pools(self) -> Iterator[Pool]:
        for site in self.sites:
            yield from site.pools

    def site(self, name: str) -> Site | None:
        return next((s for s in self.sites if s.name == name), None)

    def pool(self, key: str) -> Pool | None:
        return next((p for p in self.pools() if p.key == key), None)

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)

    def dataset(self, ref: str | Ref) -> Dataset | None:
        """The dataset a reference names: ``name@N`` by name and version; a bare name or
        ``name@latest`` the newest version the fleet holds (one declared without a version
        counts as older than any numbered one). None for an unknown one, an alias (the fleet
        has none) or text that is not a reference."""
        found = _as_ref(ref) if isinstance(ref, str) else ref
        if found is None or found.alias is not None:
            return None
        held = [d for d in self.datasets if d.name == found.name]
        if found.version is not None:
            return next((d for d in held if d.version == found.version), None)
        return max(held, key=lambda d: d.version or 0, default=None)


def _as_ref(text: str) -> Ref | None:
    try:
        return parse_ref(text)
    except SpecError:
        # A fleet name that the reference grammar does not take (one ending in '-', which
        # fleet specs allow) is still found by its exact name, as before references.
        return Ref(text) if "@" not in text else None
