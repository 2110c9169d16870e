"""Capacity planning: candidate fleet changes, each simulated, and the cost/JCT frontier.

A candidate is one or more changes joined by ``+``; each change is
``KIND:ACCELERATOR[:GPUS_PER_NODE][:key=value,...]``:

- ``add-owned:H100-80GB:8:nodes=4[,usd_per_gpu_hour=1.35][,site=NAME]``: owned nodes. Their
  price defaults to the fleet's owned price for that accelerator; aiplane has no capex
  figures of its own, so without one the change must give ``usd_per_gpu_hour``.
- ``reserve:H100-80GB:gpus=64[,term_months=12][,usd_per_gpu_hour=X][,discount=0.37]``:
  reserved cloud GPUs, prepaid whether used or not. The rate defaults to the catalog's
  cheapest on-demand price for the accelerator less ``discount`` (an assumption: 0.37 for
  terms under three years, 0.55 from three years on, typical of published 1- and 3-year
  committed-use discounts; give the real one when you have it).
- ``spot-burst:H100-80GB:gpus=128[,interruption_rate_per_hour=0.05][,usd_per_gpu_hour=X]`` and
  ``on-demand-burst:...:gpus=N``: an elastic cloud pool from 0 up to N GPUs, paid per use;
  prices default to the catalog's cheapest spot or on-demand price for the accelerator.

Cloud changes use nodes of 8 GPUs unless ``GPUS_PER_NODE`` says otherwise, priced per GPU from
the catalog's instances of that size when it has them.

``label=NAME`` names a candidate. New pools go into the named ``site``, else the fleet's
first site of the right kind (on-premise for owned, cloud otherwise), else a new site
``plan-onprem`` or ``plan-cloud`` in the first site's jurisdiction. The changed fleet document
goes through the same validation as ``fleet.yaml``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.accelerators import canonical_name
from aiplane.core.errors import Problem, SpecError
from aiplane.pricing.base import PriceBook

KINDS = ("add-owned", "reserve", "spot-burst", "on-demand-burst")
HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class Change:
    kind: str
    accelerator: str
    gpus_per_node: int | None
    params: Mapping[str, str]
    text: str


@dataclass(frozen=True)
class Candidate:
    name: str
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def _bad(text: str, message: str, allowed: str | None = None) -> SpecError:
    return SpecError("bad --candidate", [Problem("--candidate", message, text, allowed)])


def parse_change(text: str) -> Change:
    parts = [p.strip() for p in text.strip().split(":")]
    if len(parts) < 2 or parts[0] not in KINDS:
        raise _bad(text, "expected KIND:ACCELERATOR[:GPUS_PER_NODE][:key=value,...]",
                   ", ".join(KINDS))  # fmt: skip
    kind, accel, rest = parts[0], parts[1], parts[2:]
    gpn: int | None = None
    params: dict[str, str] = {}
    for part in rest:
        if "=" not in part:
            if not part.isdigit() or gpn is not None:
                raise _bad(text, f"{part!r} is neither GPUs per node nor key=value")
            gpn = int(part)
            continue
        for item in filter(None, (i.strip() for i in part.split(","))):
            key, _, value = item.partition("=")
            params[key.strip()] = value.strip()
    name = canonical_name(accel) or accel
    return Change(kind, name, gpn, params, text.strip())


def parse_candidate(text: str) -> Candidate:
    changes = tuple(parse_change(p) for p in text.split("+") if p.strip())
    if not changes:
        raise _bad(text, "an empty candidate")
    label = next((c.params["label"] for c in changes if "label" in c.params), None)
    return Candidate(label or " + ".join(c.text for c in changes), changes)


def _number(change: Change, key: str, default: float | None = None) -> float | None:
    value = change.params.get(key)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise _bad(change.text, f"{key} must be a number") from None


def catalog_price(
    book: PriceBook, accelerator: str, spot: bool, per_node: int | None = None
) -> float | None:
    """The cheapest USD per GPU-hour for ``accelerator`` in the book, on instances with
    ``per_node`` GPUs when there are any (prices per GPU differ between instance sizes)."""
    prices: list[tuple[bool, float]] = []
    for instance_type in book.instance_types():
        for offer in book.offers(instance_type):
            if offer.accelerator != accelerator or offer.accelerator_count <= 0:
                continue
            price = offer.spot_usd_per_hour if spot else offer.usd_per_hour
            if price is not None:
                other_size = per_node is not None and offer.accelerator_count != per_node
                prices.append((other_size, price / offer.accelerator_count))
    return min(prices)[1] if prices else None


class FleetEditor:
    """Applies candidate changes to a copy of a fleet document."""

    def __init__(self, document: Mapping[str, Any], book: Callable[[], PriceBook]) -> None:
        self.base = document
        self._book_factory = book
        self._book: PriceBook | None = None

    @property
    def book(self) -> PriceBook:
        if self._book is None:
            self._book = self._book_factory()
        return self._book

    def apply(self, candidate: Candidate) -> tuple[dict[str, Any], list[str]]:
        doc = copy.deepcopy(dict(self.base))
        notes: list[str] = []
        for i, change in enumerate(candidate.changes):
            notes.append(self._apply(doc, change, i))
        return doc, notes

    def _pools(self, doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return [p for s in doc.get("sites", []) for p in s.get("pools", [])]

    def _owned_price(self, doc: Mapping[str, Any], accel: str) -> float | None:
        for pool in self._pools(doc):
            node, pricing = pool.get("node", {}), pool.get("pricing", {}) or {}
            same = canonical_name(str(node.get("accelerator", ""))) or node.get("accelerator")
            if same == accel and pricing.get("model") == "owned":
                if pricing.get("usd_per_gpu_hour") is not None:
                    return float(pricing["usd_per_gpu_hour"])
                if pricing.get("usd_per_node_hour") is not None and node.get("gpus"):
                    return float(pricing["usd_per_node_hour"]) / float(node["gpus"])
        return None

    def _node(self, doc: Mapping[str, Any], accel: str, gpn: int) -> dict[str, Any]:
        """A node shape for ``accel``, copying CPUs and memory from a pool that has it."""
        for pool in self._pools(doc):
            node = pool.get("node", {})
            if node.get("accelerator") == accel and node.get("gpus") == gpn:
                return {k: v for k, v in node.items() if k != "instance_type"}
        shape: dict[str, Any] = {"accelerator": accel, "gpus": gpn, "cpus": 12 * gpn,
                                 "memory_gib": 128 * gpn}  # fmt: skip
        if canonical_name(accel) is None:
            shape["custom_accelerator"] = True
        return shape

    def _site(self, doc: dict[str, Any], change: Change, kind: str) -> dict[str, Any]:
        sites: list[dict[str, Any]] = doc.setdefault("sites", [])
        wanted = change.params.get("site")
        for site in sites:
            if (wanted and site.get("name") == wanted) or (not wanted and site.get("kind") == kind):
                return site
        if wanted:
            raise _bad(change.text, f"no site {wanted!r} in the fleet",
                       ", ".join(str(s.get("name")) for s in sites))  # fmt: skip
        first = sites[0] if sites else {}
        site = {
            "name": f"plan-{kind}",
            "kind": kind,
            "region": first.get("region", "plan"),
            "jurisdiction": first.get("jurisdiction", "US"),
            "pools": [],
        }
        sites.append(site)
        return site

    def _apply(self, doc: dict[str, Any], change: Change, index: int) -> str:
        accel = change.accelerator
        name = f"plan-{index}-{change.kind}-{accel.lower()}".replace(".", "-")[:60]
        if change.kind == "add-owned":
            nodes = int(_number(change, "nodes", 0) or 0)
            gpn = change.gpus_per_node or 8
            price = _number(change, "usd_per_gpu_hour", self._owned_price(doc, accel))
            if price is None or nodes <= 0:
                raise _bad(change.text, "add-owned needs nodes=N and, unless the fleet already "
                           "owns this accelerator, usd_per_gpu_hour=X")  # fmt: skip
            site = self._site(doc, change, "onprem")
            site.setdefault("pools", []).append({
                "name": name, "backend": "emulated", "nodes": nodes,
                "node": self._node(doc, accel, gpn),
                "pricing": {"model": "owned", "usd_per_gpu_hour": price},
            })  # fmt: skip
            return f"{nodes} owned nodes of {gpn}x{accel} at ${price:.2f}/GPU-h"
        gpus = int(_number(change, "gpus", 0) or 0)
        if gpus <= 0:
            raise _bad(change.text, f"{change.kind} needs gpus=N")
        spot = change.kind == "spot-burst"
        gpn = change.gpus_per_node or 8
        listed = catalog_price(self.book, accel, spot, gpn)
        nodes = math.ceil(gpus / gpn)
        site = self._site(doc, change, "cloud")
        pool: dict[str, Any] = {"name": name, "backend": "emulated",
                                "node": self._node(doc, accel, gpn)}  # fmt: skip
        if change.kind == "reserve":
            term = _number(change, "term_months", 12.0) or 12.0
            on_demand = listed
            discount = _number(change, "discount", 0.55 if term >= 36 else 0.37) or 0.0
            rate = _number(change, "usd_per_gpu_hour")
            if rate is None:
                if on_demand is None:
                    raise _bad(change.text, f"the catalog has no price for {accel}: give "
                               "usd_per_gpu_hour=X")  # fmt: skip
                rate = on_demand * (1 - discount)
            pool["nodes"] = nodes
            pool["pricing"] = {
                "model": "reserved",
                "usd_per_gpu_hour": on_demand if on_demand is not None else rate,
                "reserved_gpu_hours_per_month": nodes * gpn * HOURS_PER_MONTH,
                "reserved_usd_per_gpu_hour": rate,
            }
            site["pools"].append(pool)
            return (
                f"{nodes * gpn} reserved {accel} GPUs for {term:g} months at "
                f"${rate:.2f}/GPU-h, charged pro rata over the simulated period"
            )
        price = _number(change, "usd_per_gpu_hour", listed)
        if price is None:
            raise _bad(
                change.text, f"the catalog has no price for {accel}: give usd_per_gpu_hour=X"
            )
        pool["nodes"] = {"min": 0, "max": nodes}
        pricing: dict[str, Any] = {"model": "spot" if spot else "on_demand",
                                   "usd_per_gpu_hour": price}  # fmt: skip
        if spot:
            pricing["interruption_rate_per_hour"] = _number(
                change, "interruption_rate_per_hour", 0.05
            )
        pool["pricing"] = pricing
        site["pools"].append(pool)
        what = "spot" if spot else "on-demand"
        return f"burst up to {nodes * gpn} {what} {accel} GPUs at ${price:.2f}/GPU-h"


@dataclass(frozen=True)
class Outcome:
    candidate: Candidate
    notes: tuple[str, ...]
    figures: Mapping[str, Any]

    @property
    def cost(self) -> float:
        return float(self.figures["capacity_cost_usd"])

    @property
    def jct(self) -> float:
        return float(self.figures["avg_jct_s"])


def frontier(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The candidates no other beats on both capacity cost and average JCT, cheapest first."""
    ok = [o for o in outcomes if _valid(o)]
    front = [
        o
        for o in ok
        if not any(
            p.cost <= o.cost and p.jct <= o.jct and (p.cost < o.cost or p.jct < o.jct) for p in ok
        )
    ]
    return sorted(front, key=lambda o: (o.cost, o.jct))


def _valid(o: Outcome) -> bool:
    f = o.figures
    return not f["violations"] and not f["partial_gangs"] and not f.get("unfinished", 0)


def recommend(
    outcomes: Sequence[Outcome], value_usd_per_job_hour: float
) -> tuple[Outcome | None, list[str]]:
    """The frontier point with the lowest capacity cost plus waiting valued at
    ``value_usd_per_job_hour`` for every hour a job takes, and the reasons."""
    front = frontier(outcomes)
    if not front:
        return None, ["no candidate finished every job without a violation"]

    def total(o: Outcome) -> float:
        return o.cost + value_usd_per_job_hour * o.jct / 3600 * float(o.figures["jobs"])

    best = min(front, key=total)
    base = outcomes[0]
    reasons = []
    if best is base:
        reasons.append("keep the current fleet: no change saves enough completion time to pay "
                       f"for itself at ${value_usd_per_job_hour:.2f} per job-hour")  # fmt: skip
    else:
        d_cost, d_jct = best.cost - base.cost, base.jct - best.jct
        reasons.append(
            f"{best.candidate.name}: average JCT {base.jct / 3600:.1f}h -> {best.jct / 3600:.1f}h "
            f"({-d_jct / base.jct:+.0%}), p99 {base.figures['p99_jct_s'] / 3600:.1f}h -> "
            f"{best.figures['p99_jct_s'] / 3600:.1f}h, for {d_cost:+,.0f} USD "
            f"({d_cost / base.cost:+.0%}) over the simulated period"
        )
        saved = d_jct / 3600 * float(best.figures["jobs"])
        if saved > 0:
            reasons.append(f"each job-hour saved costs ${max(d_cost, 0) / saved:.2f}, under the "
                           f"${value_usd_per_job_hour:.2f} a job-hour is valued at")  # fmt: skip
    for o in outcomes:
        if o is best or not _valid(o):
            continue
        if o not in front:
            reasons.append(f"{o.candidate.name}: dominated (another candidate is cheaper and "
                           "at least as fast)")  # fmt: skip
        elif total(o) > total(best):
            reasons.append(
                f"{o.candidate.name}: on the frontier, but its cost plus waiting is "
                f"{total(o) - total(best):+,.0f} USD against the recommendation"
            )
    reasons.extend(
        f"{o.candidate.name}: left out (unfinished jobs or violations)"
        for o in outcomes
        if not _valid(o)
    )
    return best, reasons
