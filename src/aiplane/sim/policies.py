"""Policies the simulator can compare, by name.

``aiplane`` is the live engine (``core.scheduling.engine.Engine``); the others are the
baselines of ``core.scheduling.baselines``. ``sjf`` is the only policy that is told true
durations (the oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from aiplane.core.errors import Problem, SpecError
from aiplane.core.scheduling.baselines.fifo import Fifo
from aiplane.core.scheduling.baselines.las import TwoDimensionalLas
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.core.scheduling.baselines.sjf import ShortestJobFirst
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.options import EngineOptions
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.scheduling.snapshot import SchedulerSettings


@dataclass(frozen=True)
class PolicyChoice:
    name: str
    label: str
    make: Callable[[], SchedulingPolicy]
    oracle: bool = False


def _engine() -> SchedulingPolicy:
    # Nobody reads a replay's wait explanations; building them for every waiting run in every
    # cycle was about 40% of the engine's time on a long queue.
    return Engine(EngineOptions(max_explained_waits=0))


def choose(name: str) -> PolicyChoice:
    key = name.strip().lower()
    if key == "fifo":
        return PolicyChoice("fifo", "fifo", Fifo)
    if key == "sjf":
        return PolicyChoice("sjf", "sjf (oracle)", ShortestJobFirst, oracle=True)
    if key in ("las", "2d-las", "tiresias"):
        return PolicyChoice("las", "2d-las", TwoDimensionalLas)
    if key == "priority-best-fit":
        return PolicyChoice("priority-best-fit", "priority best fit", PriorityBestFit)
    if key == "aiplane":
        return PolicyChoice("aiplane", "aiplane", _engine)
    raise SpecError(
        "unknown policy",
        [Problem("--policy", "unknown policy", name, ", ".join(NAMES))],
    )


NAMES = ("fifo", "sjf", "las", "aiplane", "priority-best-fit")


def parse(text: str) -> list[PolicyChoice]:
    names = [n for n in (p.strip() for p in text.split(",")) if n]
    if not names:
        raise SpecError(
            "no policy", [Problem("--policy", "give at least one", text, ", ".join(NAMES))]
        )
    return [choose(n) for n in dict.fromkeys(names)]


def parse_settings(items: list[str] | None) -> SchedulerSettings:
    """``KEY=VALUE`` pairs to the engine's :class:`SchedulerSettings` (baselines ignore them)."""
    defaults = SchedulerSettings()
    known = {f.name: getattr(defaults, f.name) for f in fields(SchedulerSettings)}
    changes: dict[str, Any] = {}
    for item in items or []:
        key, _, text = item.partition("=")
        key = key.strip()
        if key not in known or not text:
            raise SpecError(
                "bad --setting",
                [Problem("--setting", "expected KEY=VALUE", item, ", ".join(known))],
            )
        current = known[key]
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                changes[key] = text.lower() in ("true", "1", "yes")
            elif isinstance(current, int):
                changes[key] = int(text)
            elif isinstance(current, float) or current is None:
                changes[key] = None if text.lower() == "none" else float(text)
            else:
                changes[key] = text
        except ValueError:
            raise SpecError(
                "bad --setting",
                [Problem(f"--setting {key}", f"not a {type(current).__name__}", text)],
            ) from None
    try:
        return replace(defaults, **changes)
    except ValueError as e:  # a value of the right type that the setting does not allow
        raise SpecError("bad --setting", [Problem("--setting", str(e))]) from None
