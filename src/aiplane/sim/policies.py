"""Policies the simulator can compare, by name.

``aiplane`` is the live engine (``core.scheduling.engine.Engine``); until a build has it, the
name falls back to scheduling v0 and says so in the result's label. ``sjf`` is the only policy
that is told true durations (the oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from aiplane.core.errors import Problem, SpecError
from aiplane.core.scheduling.fifo import Fifo
from aiplane.core.scheduling.las import TwoDimensionalLas
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.scheduling.sjf import ShortestJobFirst
from aiplane.core.scheduling.snapshot import SchedulerSettings
from aiplane.core.scheduling.v0 import PriorityBestFit


@dataclass(frozen=True)
class PolicyChoice:
    name: str
    label: str
    make: Callable[[], SchedulingPolicy]
    oracle: bool = False


def _engine() -> tuple[Callable[[], SchedulingPolicy], str]:
    try:
        from aiplane.core.scheduling import engine
    except ImportError:
        return PriorityBestFit, "aiplane (v0: engine not in this build)"

    def make() -> SchedulingPolicy:
        # Nobody reads a replay's wait explanations; building them for every waiting run in
        # every cycle was about 40% of the engine's time on a long queue.
        try:
            return engine.Engine(engine.EngineOptions(max_explained_waits=0))
        except TypeError:  # an engine without that option
            return engine.Engine()

    return make, "aiplane"


def choose(name: str) -> PolicyChoice:
    key = name.strip().lower()
    if key == "fifo":
        return PolicyChoice("fifo", "fifo", Fifo)
    if key == "sjf":
        return PolicyChoice("sjf", "sjf (oracle)", ShortestJobFirst, oracle=True)
    if key in ("las", "2d-las", "tiresias"):
        return PolicyChoice("las", "2d-las", TwoDimensionalLas)
    if key == "v0":
        return PolicyChoice("v0", "v0", PriorityBestFit)
    if key == "aiplane":
        make, label = _engine()
        return PolicyChoice("aiplane", label, make)
    raise SpecError(
        "unknown policy",
        [Problem("--policy", "unknown policy", name, ", ".join(NAMES))],
    )


NAMES = ("fifo", "sjf", "las", "aiplane", "v0")


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
    return replace(defaults, **changes)
