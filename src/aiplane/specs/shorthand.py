"""The accelerator shorthand of workload specs: ``NAME[:COUNT][@SPEED]``.

- ``NAME`` an accelerator type, case-insensitive, aliases allowed (``H100`` is ``H100-80GB``).
- ``COUNT`` per replica, default 1: a whole number of GPUs (at least 1), or a share of one GPU
  strictly between 0 and 1 (``L4:0.5``).
- ``COUNT`` may instead name a MIG slice of a MIG-capable GPU, ``NgNAME`` as NVIDIA writes them
  (``A100-80GB:1g.10gb``, ``H100:3g.40gb``): a share of N/7 of one GPU.
- ``SPEED`` relative throughput on this type, default 1.0, in (0, 10]; it lets a workload say
  that an A100 does 0.45 of the work of an H100 (``A100-80GB:8@0.45``).
"""

from __future__ import annotations

import math
import re

from aiplane.core.accelerators import ACCELERATORS, canonical_name
from aiplane.core.workloads import AcceleratorOption

GRAMMAR = "NAME[:COUNT][@SPEED], e.g. H100:8 or A100-80GB:8@0.45"
COUNT_ALLOWED = "a whole number >= 1, or a share of one GPU between 0 and 1 (e.g. 0.5)"
SPEED_ALLOWED = "a number in (0, 10]"
MAX_SPEED = 10.0

MIG_ALLOWED = (
    "a MIG profile like 1g.10gb, 2g.20gb, 3g.40gb, 4g.40gb or 7g.80gb on a MIG-capable GPU"
)
MIG_SLICES = 7  # compute slices of an A100 or H100/H200
_MIG = re.compile(r"(?P<slices>[1-7])g\.(?P<memory>\d+)gb", re.IGNORECASE)
_FORM = re.compile(r"(?P<name>[^:@]*)(?::(?P<count>[^@]*))?(?:@(?P<speed>.*))?")


class ShorthandError(ValueError):
    """One thing wrong with a shorthand: what, the whole item given, what is allowed."""

    def __init__(self, message: str, given: str, allowed: str) -> None:
        super().__init__(message)
        self.message = message
        self.given = given
        self.allowed = allowed


def known_accelerators() -> str:
    return ", ".join(ACCELERATORS)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_accelerator(text: str) -> AcceleratorOption:
    """One ``NAME[:COUNT][@SPEED]`` item; raises :class:`ShorthandError`."""
    m = _FORM.fullmatch(text.strip())
    if m is None:  # pragma: no cover - the pattern matches any string
        raise ShorthandError("malformed accelerator", text, GRAMMAR)
    raw_name = m.group("name").strip()
    if not raw_name:
        raise ShorthandError("missing accelerator name", text, GRAMMAR)
    name = canonical_name(raw_name)
    if name is None:
        raise ShorthandError(f"unknown accelerator type {raw_name!r}", text, known_accelerators())
    count = 1.0
    mig = _MIG.fullmatch(m.group("count").strip()) if m.group("count") is not None else None
    if mig is not None:
        if not ACCELERATORS[name].mig_capable:
            raise ShorthandError(f"{name} has no MIG slices", text, MIG_ALLOWED)
        count = int(mig.group("slices")) / MIG_SLICES
    elif m.group("count") is not None:
        raw = m.group("count").strip()
        value = _number(raw)
        if value is None:
            raise ShorthandError(f"count {raw!r} is not a number", text, COUNT_ALLOWED)
        if not (0 < value < 1 or (value >= 1 and value == int(value))):
            raise ShorthandError(f"count {raw!r} is not allowed", text, COUNT_ALLOWED)
        count = value
    speed = 1.0
    if m.group("speed") is not None:
        raw = m.group("speed").strip()
        value = _number(raw)
        if value is None:
            raise ShorthandError(f"speed {raw!r} is not a number", text, SPEED_ALLOWED)
        if not 0 < value <= MAX_SPEED:
            raise ShorthandError(f"speed {raw!r} is out of range", text, SPEED_ALLOWED)
        speed = value
    profile = mig.group(0).lower() if mig is not None else None
    return AcceleratorOption(name, count, speed, profile)


def format_accelerator(option: AcceleratorOption) -> str:
    """The shorthand for ``option``; ``parse_accelerator`` reads it back to an equal value."""
    text = option.name
    if option.mig_profile is not None:
        text += f":{option.mig_profile}"
    elif option.count != 1:
        text += f":{int(option.count)}" if option.count >= 1 else f":{option.count!r}"
    if option.speed != 1:
        text += f"@{option.speed!r}"
    return text
