"""Pools from their specs: the node shape, the catalog look-up and the per-node price.

Pool nodes come in three forms:

- explicit: ``{accelerator, gpus, cpus, memory_gib}`` (no accelerator: a CPU-only node);
- ``{instance_type}``: shape and price from the price book, in the site's region; fields given
  beside it override the catalog's, and an explicit ``usd_per_gpu_hour``/``usd_per_node_hour``
  overrides its price. The pool's pricing model picks the on-demand or the spot price
  (``reserved`` takes the on-demand price as the rate once the commitment is used up);
- an accelerator aiplane does not know (a consumer GPU, say) needs ``custom_accelerator: true``
  beside it, so that a misspelt name is still caught; names from the catalog are kept as given;
- ``{accelerator: auto, cpus, memory_gib}`` on a ``local`` pool: this machine's GPUs, found by
  the server. Until it resolves them the node is
  ``NodeShape(accelerator=None, gpus=0, cpus, memory_gib, auto_detect=True)`` (CPU-only if no
  GPU turns up); ``cpus`` and ``memory_gib`` say how much of this machine the pool offers.

Core pricing is per node-hour: ``usd_per_gpu_hour`` is multiplied by the node's GPUs. A pool
without ``pricing`` on an onprem or edge site is owned capacity at $0/h; a cloud pool must have a
price, from the spec or from the catalog.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import replace

from aiplane.core.accelerators import canonical_name
from aiplane.core.fleet import NodeShape, Pool, Pricing, PricingModel
from aiplane.pricing.base import InstanceOffer, PriceBook
from aiplane.specs.errors import Loc, Problems
from aiplane.specs.fleet_models import AUTO, NodeSpec, PoolSpec, PricingSpec, SiteSpec
from aiplane.specs.shorthand import known_accelerators

AUTO_ACCELERATOR = AUTO
"""The ``node.accelerator`` value in a spec that asks the server to detect this machine's GPUs."""

PRICE_ALLOWED = "usd_per_gpu_hour or usd_per_node_hour"


def is_auto_node(node: NodeShape) -> bool:
    """True for the node of an ``accelerator: auto`` pool that the server has not resolved."""
    return node.auto_detect


class PoolBuilder:
    """Builds pools, adding every problem it finds to ``problems``; the price book is fetched
    only when a pool needs the catalog."""

    def __init__(self, problems: Problems, price_book: Callable[[], PriceBook]) -> None:
        self.problems = problems
        self._get_book = price_book
        self._book: PriceBook | None = None

    @property
    def book(self) -> PriceBook:
        if self._book is None:
            self._book = self._get_book()
        return self._book

    def pool(self, loc: Loc, site: SiteSpec, spec: PoolSpec) -> Pool | None:
        if spec.nodes.min > spec.nodes.max:
            self.problems.add(
                [*loc, "nodes"],
                "min is greater than max",
                {"min": spec.nodes.min, "max": spec.nodes.max},
                "min <= max",
            )
        pricing = spec.pricing or PricingSpec()
        explicit_price = (
            pricing.usd_per_gpu_hour is not None or pricing.usd_per_node_hour is not None
        )
        shaped = self._shape([*loc, "node"], site, spec, need_price=not explicit_price)
        if shaped is None:
            return None
        node, offer = shaped
        price = self._price(loc, site, spec, node, offer)
        if price is None:
            return None
        price = self._commitment([*loc, "pricing"], spec, price)
        return Pool(
            site=site.name,
            name=spec.name,
            backend=spec.backend,
            node=node,
            nodes_min=spec.nodes.min,
            nodes_max=spec.nodes.max,
            pricing=price,
            instance_type=spec.node.instance_type,
            backend_config=dict(spec.backend_config),
        )

    def _shape(
        self, loc: Loc, site: SiteSpec, pool: PoolSpec, need_price: bool
    ) -> tuple[NodeShape, InstanceOffer | None] | None:
        node = pool.node
        if node.accelerator is not None and node.accelerator.strip().lower() == AUTO:
            return self._auto_shape(loc, pool, node), None
        offer: InstanceOffer | None = None
        if node.instance_type is not None:
            incomplete = None in (node.gpus, node.cpus, node.memory_gib) or (
                node.accelerator is None and node.gpus != 0
            )
            if incomplete or need_price:
                offer = self._offer([*loc, "instance_type"], node.instance_type, site)
                if offer is None:
                    return None
        accelerator, known = self._accelerator(loc, node, offer)
        gpus, counted = self._gpus(loc, node, accelerator, offer, known)
        amounts = [self._amount(loc, node, field, offer) for field in ("cpus", "memory_gib")]
        cpus, memory_gib = amounts
        if not (known and counted) or cpus is None or memory_gib is None:
            return None
        return NodeShape(accelerator, gpus, cpus, memory_gib), offer

    def _accelerator(
        self, loc: Loc, node: NodeSpec, offer: InstanceOffer | None
    ) -> tuple[str | None, bool]:
        """The node's accelerator (given, or the instance type's) and whether it is known."""
        if node.accelerator is None:
            return (offer.accelerator if offer is not None else None), True
        accelerator = canonical_name(node.accelerator)
        if accelerator is None and (node.custom_accelerator or node.instance_type):
            accelerator = node.accelerator.strip()  # not in aiplane's table: kept as given
        if accelerator is None:
            self.problems.add(
                [*loc, "accelerator"],
                "unknown accelerator type",
                node.accelerator,
                known_accelerators() + ", auto (local pools), or any name with "
                "custom_accelerator: true",
            )
            return None, False
        return accelerator, True

    def _gpus(
        self,
        loc: Loc,
        node: NodeSpec,
        accelerator: str | None,
        offer: InstanceOffer | None,
        known: bool,
    ) -> tuple[int, bool]:
        """GPUs per node (given, or the instance type's) and whether they suit the accelerator;
        ``known`` is False when the accelerator was already reported unknown."""
        p = self.problems
        gpus = node.gpus
        if gpus is None:
            gpus = offer.accelerator_count if offer is not None else 0
            if accelerator is not None and offer is None:
                p.add(
                    [*loc, "gpus"],
                    "required when accelerator is given",
                    None,
                    "a whole number >= 1",
                    show_given=False,
                )
                return gpus, False
        elif accelerator is None and gpus > 0 and known:
            p.add(
                [*loc, "gpus"],
                "GPUs need an accelerator type",
                gpus,
                "node.accelerator, or gpus: 0 for a CPU-only node",
            )
            return gpus, False
        elif accelerator is not None and gpus == 0:
            p.add(
                [*loc, "gpus"],
                "an accelerator needs at least one GPU per node",
                gpus,
                "a whole number >= 1, or leave out accelerator for a CPU-only node",
            )
            return gpus, False
        return gpus, True

    def _amount(
        self, loc: Loc, node: NodeSpec, field: str, offer: InstanceOffer | None
    ) -> float | None:
        """``cpus`` or ``memory_gib`` per node (given, or the instance type's); None if neither."""
        value: float | None = getattr(node, field)
        if value is None and offer is not None:
            value = offer.cpus if field == "cpus" else offer.memory_gib
        if value is None:
            self.problems.add(
                [*loc, field], "required field is missing", None, "a number >= 0", show_given=False
            )
        return value

    def _auto_shape(self, loc: Loc, pool: PoolSpec, node: NodeSpec) -> NodeShape:
        p = self.problems
        if pool.backend != "local":
            p.add(
                [*loc, "accelerator"],
                "'auto' is only for pools on the local backend",
                node.accelerator,
                known_accelerators(),
            )
        if node.instance_type is not None:
            p.add(
                [*loc, "instance_type"],
                "cannot be combined with accelerator: auto",
                node.instance_type,
                "leave instance_type out",
            )
        if node.gpus is not None:
            p.add(
                [*loc, "gpus"],
                "GPUs are detected when accelerator is auto",
                node.gpus,
                "leave gpus out",
            )
        amounts: list[float] = []
        for field in ("cpus", "memory_gib"):
            value: float | None = getattr(node, field)
            if value is None:
                p.add(
                    [*loc, field],
                    "required field is missing",
                    None,
                    "a number >= 0: how much of this machine the pool offers",
                    show_given=False,
                )
            amounts.append(value or 0.0)
        return NodeShape(None, 0, amounts[0], amounts[1], auto_detect=True)

    def _offer(self, loc: Loc, instance_type: str, site: SiteSpec) -> InstanceOffer | None:
        offers = self.book.offers(instance_type, site.region)
        if offers:
            return offers[0]
        elsewhere = sorted({o.region for o in self.book.offers(instance_type)})
        if elsewhere:
            self.problems.add(
                loc,
                f"instance type not offered in region {site.region!r}",
                instance_type,
                "regions that offer it: " + ", ".join(elsewhere),
            )
        else:
            close = _close_names(instance_type, self.book.instance_types())
            allowed = (
                ("similar known types: " + ", ".join(close))
                if close
                else ("an instance type from the price catalog")
            )
            self.problems.add(loc, "unknown instance type", instance_type, allowed)
        return None

    def _price(
        self, loc: Loc, site: SiteSpec, pool: PoolSpec, node: NodeShape, offer: InstanceOffer | None
    ) -> Pricing | None:
        spec, p = pool.pricing, self.problems
        ploc = [*loc, "pricing"]
        if spec is None:
            if offer is not None:
                return Pricing(
                    PricingModel.ON_DEMAND, offer.usd_per_hour, 0.0, f"catalog:{offer.source}"
                )
            if site.kind != "cloud":
                return Pricing(PricingModel.OWNED, 0.0)
            p.add(
                ploc,
                "a cloud pool needs a price",
                None,
                f"pricing with {PRICE_ALLOWED}, or node.instance_type",
                show_given=False,
            )
            return None
        model = PricingModel(spec.model or ("on_demand" if pool.node.instance_type else "owned"))
        rate = spec.interruption_rate_per_hour
        source = spec.source or "spec"
        if spec.usd_per_gpu_hour is not None and spec.usd_per_node_hour is not None:
            p.add(
                ploc,
                "give a per-GPU or a per-node price, not both",
                {
                    "usd_per_gpu_hour": spec.usd_per_gpu_hour,
                    "usd_per_node_hour": spec.usd_per_node_hour,
                },
                PRICE_ALLOWED,
            )
            return None
        if spec.usd_per_gpu_hour is not None:
            if node.gpus == 0:
                why = "GPUs are not known until detected" if is_auto_node(node) else "no GPUs"
                p.add(
                    [*ploc, "usd_per_gpu_hour"],
                    f"the node has {why}",
                    spec.usd_per_gpu_hour,
                    "usd_per_node_hour",
                )
                return None
            return Pricing(model, spec.usd_per_gpu_hour * node.gpus, rate, source)
        if spec.usd_per_node_hour is not None:
            return Pricing(model, spec.usd_per_node_hour, rate, source)
        if offer is None:
            p.add(
                ploc,
                "no price given",
                None,
                f"{PRICE_ALLOWED}, or node.instance_type to take it from the catalog",
                show_given=False,
            )
            return None
        catalog = f"catalog:{offer.source}"
        if model is PricingModel.SPOT:
            if offer.spot_usd_per_hour is None:
                p.add(
                    [*ploc, "model"],
                    f"no spot price for {offer.instance_type} in {offer.region}",
                    "spot",
                    f"on_demand, or {PRICE_ALLOWED}",
                )
                return None
            return Pricing(model, offer.spot_usd_per_hour, rate, catalog)
        if model is PricingModel.OWNED:
            p.add(
                ploc,
                "owned capacity needs its own price; the catalog has cloud prices",
                None,
                PRICE_ALLOWED,
                show_given=False,
            )
            return None
        return Pricing(model, offer.usd_per_hour, rate, catalog)

    def _commitment(self, loc: Loc, pool: PoolSpec, price: Pricing) -> Pricing:
        """A reserved pool's prepaid commitment, if the spec declares one."""
        spec = pool.pricing
        if spec is None:
            return price
        hours, rate = spec.reserved_gpu_hours_per_month, spec.reserved_usd_per_gpu_hour
        if hours is None and rate is None:
            return price
        if price.model is not PricingModel.RESERVED:
            field = (
                "reserved_gpu_hours_per_month" if hours is not None else "reserved_usd_per_gpu_hour"
            )
            self.problems.add(
                [*loc, field], "only reserved pricing has a commitment", price.model.value,
                "model: reserved, or leave the commitment out",
            )  # fmt: skip
            return price
        return replace(
            price, reserved_gpu_hours_per_month=hours or 0.0, reserved_usd_per_gpu_hour=rate
        )


def _close_names(name: str, known: list[str]) -> list[str]:
    return difflib.get_close_matches(name, known, n=3, cutoff=0.6)
