"""YAML specs (``fleet.yaml``, ``workload.yaml``): validation with clear errors, and conversion
to core types.

Every problem in a document is reported at once, in one :class:`aiplane.core.errors.SpecError`
whose ``problems`` name the file and field (``fleet.yaml: sites[1].pools[0].pricing.model``),
the value given and what is allowed.
"""

from aiplane.specs.fleet import FleetSpec, fleet_from_document, load_fleet, load_fleet_document
from aiplane.specs.fleet_export import fleet_to_document
from aiplane.specs.loader import parse_yaml, read_document, read_yaml
from aiplane.specs.pools import AUTO_ACCELERATOR, is_auto_node
from aiplane.specs.shorthand import ShorthandError, format_accelerator, parse_accelerator
from aiplane.specs.workload import (
    load_workload,
    load_workload_document,
    workload_from_document,
)

__all__ = [
    "AUTO_ACCELERATOR",
    "FleetSpec",
    "ShorthandError",
    "fleet_from_document",
    "fleet_to_document",
    "format_accelerator",
    "is_auto_node",
    "load_fleet",
    "load_fleet_document",
    "load_workload",
    "load_workload_document",
    "parse_accelerator",
    "parse_yaml",
    "read_document",
    "read_yaml",
    "workload_from_document",
]
