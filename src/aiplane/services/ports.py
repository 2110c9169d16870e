"""What the services need from the edges that is not an adapter family: reading fleet documents.

Fleet documents are YAML-shaped mappings whose schema belongs to ``aiplane.specs`` (edge-in);
services never import it. ``wiring.py`` hands them an implementation of :class:`FleetDocuments`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiplane.core.fleet import Fleet


class FleetDocuments(Protocol):
    def read(self, document: Mapping[str, Any], source: str) -> Fleet:
        """A fleet from a fleet document (a spec or a resolved one): SpecError naming every
        problem, located in ``source``."""
        ...

    def write(self, fleet: Fleet) -> dict[str, Any]:
        """The resolved document of ``fleet``: it reads back to the same fleet without the
        price catalog."""
        ...
