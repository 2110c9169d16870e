"""Amounts of memory as people write them: ``8Gi``, ``512Mi``, ``2G``, or a number of bytes.

The units are Kubernetes' (``resources.limits.memory``): ``Ki``, ``Mi``, ``Gi``, ``Ti`` are powers
of 1024, ``k`` (or ``K``), ``M``, ``G``, ``T`` powers of 1000. A fraction is allowed before a unit
(``1.5Gi``) and rounded down to whole bytes.
"""

from __future__ import annotations

import re

UNITS: dict[str, int] = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
BYTES_ALLOWED = (
    "a whole number of bytes, or a number with a unit: Ki, Mi, Gi, Ti (1024) or k, M, G, T "
    "(1000), e.g. 8Gi"
)
_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_bytes(value: object) -> int:
    """``value`` in bytes; ValueError saying why it is not an amount of memory."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a whole number of bytes or a string such as 8Gi")
    match = _AMOUNT.match(value)
    if match is None:
        raise ValueError("not an amount of memory")
    number, unit = match.groups()
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    if "." in number and unit == "":
        raise ValueError("a number of bytes must be whole")
    whole, _, fraction = number.partition(".")
    # Exact arithmetic: 1.1Gi is not a float's idea of it.
    scale = 10 ** len(fraction)
    return int((int(whole) * scale + int(fraction or "0")) * UNITS[unit] // scale)
