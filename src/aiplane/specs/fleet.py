"""``fleet.yaml`` to a core :class:`~aiplane.core.fleet.Fleet`: sites, teams and datasets, with
every problem collected. Pools are built in :mod:`aiplane.specs.pools` (node forms, catalog
look-up, pricing), and a fleet goes back to a document in :mod:`aiplane.specs.fleet_export`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiplane.core.accelerators import canonical_name
from aiplane.core.fleet import Dataset, Fleet, Site, SiteKind, Team
from aiplane.pricing.base import PriceBook
from aiplane.specs.budgets import budgets_from_specs
from aiplane.specs.errors import Loc, Problems, did_you_mean, validate
from aiplane.specs.fleet_models import DatasetSpec, FleetDocument, SiteSpec, TeamSpec
from aiplane.specs.loader import read_yaml
from aiplane.specs.pools import PoolBuilder
from aiplane.specs.shorthand import known_accelerators


@dataclass(frozen=True)
class FleetSpec:
    """A fleet file read and checked: the core fleet, where it came from, the document."""

    fleet: Fleet
    source: str
    document: Mapping[str, Any]


def _default_book() -> PriceBook:
    from aiplane.pricing.catalog import CatalogPriceBook

    return CatalogPriceBook.default()


def load_fleet_document(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in ``path`` (not yet checked), or a SpecError."""
    return read_yaml(path)


def load_fleet(path: str | Path, price_book: PriceBook | None = None) -> FleetSpec:
    """Read, check and convert a fleet file; every problem in one :class:`SpecError`."""
    document = read_yaml(path)
    fleet = fleet_from_document(document, str(path), price_book)
    return FleetSpec(fleet, str(path), document)


def fleet_from_document(
    document: Any, source_name: str, price_book: PriceBook | None = None
) -> Fleet:
    """A core fleet from a fleet document; ``price_book`` defaults to the shipped catalog and is
    only consulted for pools that name an ``instance_type`` without a full shape and price."""
    spec = validate(FleetDocument, document, source_name, "fleet spec")
    return _Builder(source_name, price_book).build(spec)


class _Builder:
    def __init__(self, source: str, price_book: PriceBook | None) -> None:
        self.problems = Problems(source)

        def book() -> PriceBook:
            return price_book if price_book is not None else _default_book()

        self.pools = PoolBuilder(self.problems, book)

    def build(self, spec: FleetDocument) -> Fleet:
        p = self.problems
        _unique(p, [s.name for s in spec.sites], ["sites"], "site")
        sites = tuple(self._site(["sites", i], s) for i, s in enumerate(spec.sites))
        _unique(p, [t.name for t in spec.teams], ["teams"], "team")
        teams = tuple(self._team(["teams", i], t) for i, t in enumerate(spec.teams))
        _unique_versions(p, spec.datasets)
        site_names = [s.name for s in spec.sites]
        datasets = tuple(
            self._dataset(["datasets", i], d, site_names) for i, d in enumerate(spec.datasets)
        )
        budgets = budgets_from_specs(p, spec.budgets, [t.name for t in spec.teams])
        p.raise_if_any("fleet spec")
        return Fleet(sites, teams, datasets, budgets)

    def _site(self, loc: Loc, spec: SiteSpec) -> Site:
        _unique(self.problems, [p.name for p in spec.pools], [*loc, "pools"], "pool in this site")
        pools = [self.pools.pool([*loc, "pools", i], spec, p) for i, p in enumerate(spec.pools)]
        return Site(
            name=spec.name,
            kind=SiteKind(spec.kind),
            region=spec.region,
            jurisdiction=spec.jurisdiction,
            pools=tuple(p for p in pools if p is not None),
            provider=spec.provider,
            egress_usd_per_gb=spec.egress_usd_per_gb,
            latency_ms=dict(spec.latency_ms),
        )

    def _team(self, loc: Loc, spec: TeamSpec) -> Team:
        return Team(
            name=spec.name,
            cohort=spec.cohort,
            quota=self._amounts([*loc, "quota"], spec.quota),
            borrowing_limit=self._amounts([*loc, "borrowing_limit"], spec.borrowing_limit),
            lending_limit=self._amounts([*loc, "lending_limit"], spec.lending_limit),
            budget_usd_per_month=spec.budget_usd_per_month,
        )

    def _amounts(self, loc: Loc, amounts: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in amounts.items():
            name = canonical_name(key)
            if name is None:
                self.problems.add(
                    [*loc, key], "unknown accelerator type", key, known_accelerators()
                )
            elif name in out:
                self.problems.add(
                    [*loc, key], f"{name} is listed twice", key, "each accelerator type once"
                )
            else:
                out[name] = value
        return out

    def _dataset(self, loc: Loc, spec: DatasetSpec, sites: list[str]) -> Dataset:
        self._known_site([*loc, "site"], spec.site, sites)
        for j, replica in enumerate(spec.replicas):
            if replica in spec.replicas[:j]:
                self.problems.add(
                    [*loc, "replicas", j], "site listed twice", replica, "each site once"
                )
            else:
                self._known_site([*loc, "replicas", j], replica, sites)
        return Dataset(
            spec.name,
            spec.site,
            spec.size_gb,
            spec.jurisdiction,
            spec.content_hash,
            version=spec.version,
            replicas=tuple(spec.replicas),
        )

    def _known_site(self, loc: Loc, site: str, sites: list[str]) -> None:
        if site not in sites:
            guess = did_you_mean(site, sites)
            message = "unknown site" + (f"; did you mean {guess!r}?" if guess else "")
            self.problems.add(loc, message, site, ", ".join(sites) or "no sites are defined")


def _unique_versions(problems: Problems, datasets: list[DatasetSpec]) -> None:
    """One entry per dataset version: a name twice only with two different versions."""
    first: dict[tuple[str, int | None], int] = {}
    for i, d in enumerate(datasets):
        key = (d.name, d.version)
        if key in first:
            shown = d.name if d.version is None else f"{d.name}@{d.version}"
            problems.add(
                ["datasets", i, "name"],
                f"duplicate dataset {shown} (also datasets[{first[key]}])",
                d.name,
                "a name not used by another dataset, or the same name with another version",
            )
        else:
            first[key] = i


def _unique(problems: Problems, names: list[str], loc: Loc, what: str) -> None:
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            problems.add(
                [*loc, i, "name"],
                f"duplicate {what} name (also {loc[-1]}[{first[name]}])",
                name,
                f"a name not used by another {what}",
            )
        else:
            first[name] = i
