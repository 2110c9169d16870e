"""Waste findings from GPU telemetry. Pure: observations in, findings out.

Each GPU's series is cut into segments (by the phases a recording labels, else at change
points), each segment is classified from its means, neighbours of one kind are merged, and what
lasts at least ``min_duration_s`` becomes a finding with its GPU-hours and dollars.

The activity signal is GPM's SM activity (share of SMs busy) where present. NVML's plain
utilisation counter is the share of time *any* kernel ran, so a stream of tiny kernels reads as
busy (18% on an H200 whose SMs were 0.2% active); it is used only when GPM is absent, and the
finding says so.

Kinds, checked in this order:

- squatting: memory held, no compute at all (SM activity and utilisation under the idle
  threshold): the GPU is unusable to others and does nothing.
- idle: allocated, SM activity under ``idle_activity`` (5%).
- memory_bound: DRAM busy (``memory_bound_dram``) while most SMs are not
  (``memory_bound_max_activity``): the work waits on memory. A copy that saturates DRAM with
  every SM active uses the device fully and is not waste.
- low_occupancy: SM activity under ``low_activity``: most of the GPU is unused. "Occupancy"
  here is how much of the GPU the work occupies, not DCGM's warp occupancy, which is low in
  healthy tensor-core GEMMs (14% at 96% SM activity in the H200 recording).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise
from typing import Any

from aiplane.core import changepoints


class WasteKind(StrEnum):
    IDLE = "idle"
    SQUATTING = "squatting"
    LOW_OCCUPANCY = "low_occupancy"
    MEMORY_BOUND = "memory_bound"


class Action(StrEnum):
    RELEASE = "release"
    SMALLER_GPU = "smaller_gpu"
    MIG_SLICE = "mig_slice"
    CO_LOCATION = "co_location"


class Basis(StrEnum):
    GPM = "gpm"
    UTILISATION = "utilisation"


@dataclass(frozen=True)
class Observation:
    """One sample of one GPU; ratios are 0..1."""

    t: float  # unix seconds
    gpu: int
    util: float  # NVML utilisation counter
    memory_used_mib: float
    memory_total_mib: float
    allocated: bool = True  # held by a run (or, in a recording, by a process)
    mem_util: float | None = None  # NVML memory-controller utilisation
    sm_active: float | None = None  # GPM, where the GPU has it
    sm_occupancy: float | None = None
    tensor_active: float | None = None
    dram_active: float | None = None
    phase: str | None = None


@dataclass(frozen=True)
class WastePolicy:
    min_duration_s: float = 15 * 60.0
    idle_activity: float = 0.05
    low_activity: float = 0.30
    memory_bound_dram: float = 0.50
    memory_bound_max_activity: float = 0.50
    # Memory counts as held above both: a bare CUDA context takes 0.5-1.5 GiB.
    held_memory_mib: float = 2048.0
    held_memory_share: float = 0.05
    # A segment is allocated when at least this share of its samples are.
    allocated_share: float = 0.5
    # Change points: a split must reduce the summed squared error of the 0..1 features by at
    # least this, and by more than the series' own noise would by chance (see change_points);
    # each side keeps at least ``min_segment_samples``, so one odd sample is not a segment.
    min_split_gain: float = 0.2
    noise_penalty_factor: float = 3.0
    min_segment_samples: int = 2


@dataclass(frozen=True)
class Segment:
    gpu: int
    start: float
    end: float
    samples: int
    util: float
    memory_used_mib: float
    memory_total_mib: float
    allocated: float  # share of samples
    gpm_share: float  # share of samples with GPM
    sm_active: float | None
    tensor_active: float | None
    dram_active: float | None  # GPM's, else NVML's memory-controller utilisation
    phases: tuple[str, ...] = ()

    @property
    def basis(self) -> Basis:
        return (
            Basis.GPM if self.gpm_share >= 0.5 and self.sm_active is not None else Basis.UTILISATION
        )

    @property
    def activity(self) -> float:
        return (
            self.sm_active if self.basis is Basis.GPM and self.sm_active is not None else self.util
        )


@dataclass(frozen=True)
class WasteFinding:
    kind: WasteKind
    gpu: int
    start: float
    end: float
    gpu_hours: float
    usd: float
    action: Action
    recommendation: str
    basis: Basis
    activity: float  # the signal the kind was judged on (SM activity, or utilisation)
    util: float
    memory_used_mib: float
    sm_active: float | None = None
    dram_active: float | None = None
    phases: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "gpu": self.gpu,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "duration_s": round(self.end - self.start, 3),
            "gpu_hours": round(self.gpu_hours, 6),
            "usd": round(self.usd, 6),
            "action": str(self.action),
            "recommendation": self.recommendation,
            "basis": str(self.basis),
            "activity": round(self.activity, 5),
            "util": round(self.util, 5),
            "sm_active": None if self.sm_active is None else round(self.sm_active, 5),
            "dram_active": None if self.dram_active is None else round(self.dram_active, 5),
            "memory_used_mib": round(self.memory_used_mib, 1),
            "phases": list(self.phases),
        }


# -- segmentation ----------------------------------------------------------------------------


def _features(o: Observation) -> tuple[float, ...]:
    activity = o.sm_active if o.sm_active is not None else o.util
    share = o.memory_used_mib / o.memory_total_mib if o.memory_total_mib else 0.0
    dram = o.dram_active if o.dram_active is not None else (o.mem_util or 0.0)
    return (activity, o.util, share, dram, o.tensor_active or 0.0, 1.0 if o.allocated else 0.0)


def change_points(series: Sequence[Observation], policy: WastePolicy) -> list[int]:
    """Indices where a new segment starts (0 first), where the features' level shifts
    (``core.changepoints``)."""
    return changepoints.change_points(
        [_features(o) for o in series],
        min_gain=policy.min_split_gain,
        noise_factor=policy.noise_penalty_factor,
        min_size=policy.min_segment_samples,
    )


def phase_starts(series: Sequence[Observation]) -> list[int]:
    return [i for i, o in enumerate(series) if i == 0 or o.phase != series[i - 1].phase]


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _segment(series: Sequence[Observation], end: float) -> Segment:
    gpm = [o for o in series if o.sm_active is not None]
    dram = _mean(o.dram_active for o in gpm) if gpm else _mean(o.mem_util for o in series)
    return Segment(
        gpu=series[0].gpu,
        start=series[0].t,
        end=end,
        samples=len(series),
        util=_mean(o.util for o in series) or 0.0,
        memory_used_mib=_mean(o.memory_used_mib for o in series) or 0.0,
        memory_total_mib=max(o.memory_total_mib for o in series),
        allocated=sum(1 for o in series if o.allocated) / len(series),
        gpm_share=len(gpm) / len(series),
        sm_active=_mean(o.sm_active for o in gpm),
        tensor_active=_mean(o.tensor_active for o in gpm),
        dram_active=dram,
        phases=tuple(dict.fromkeys(o.phase for o in series if o.phase is not None)),
    )


def segments(series: Sequence[Observation], policy: WastePolicy) -> list[Segment]:
    """One GPU's series (in time order) as segments; each covers until the next begins, the
    last for one median sample interval past its last sample."""
    if not series:
        return []
    labelled = all(o.phase is not None for o in series)
    starts = phase_starts(series) if labelled else change_points(series, policy)
    gaps = sorted(b.t - a.t for a, b in pairwise(series))
    tail = gaps[len(gaps) // 2] if gaps else 0.0
    bounds = [*starts, len(series)]
    out = []
    for i, j in pairwise(bounds):
        end = series[j].t if j < len(series) else series[-1].t + tail
        out.append(_segment(series[i:j], end))
    return out


# -- classification --------------------------------------------------------------------------


def classify(segment: Segment, policy: WastePolicy) -> WasteKind | None:
    if segment.allocated < policy.allocated_share:
        return None  # nobody holds it: spare capacity, not a run's waste
    activity = segment.activity
    held = max(policy.held_memory_mib, policy.held_memory_share * segment.memory_total_mib)
    if (
        activity < policy.idle_activity
        and segment.util < policy.idle_activity
        and segment.memory_used_mib >= held
    ):
        return WasteKind.SQUATTING
    if activity < policy.idle_activity:
        return WasteKind.IDLE
    dram = segment.dram_active
    if (
        dram is not None
        and dram >= policy.memory_bound_dram
        and activity < policy.memory_bound_max_activity
    ):
        return WasteKind.MEMORY_BOUND
    if activity < policy.low_activity:
        return WasteKind.LOW_OCCUPANCY
    return None


def _merge(a: Segment, b: Segment) -> Segment:
    """``a`` and the segment right after it, as one (means weighted by duration)."""
    wa, wb = max(a.end - a.start, 1e-9), max(b.end - b.start, 1e-9)

    def avg(x: float | None, y: float | None) -> float | None:
        if x is None or y is None:
            return x if y is None else y
        return (x * wa + y * wb) / (wa + wb)

    return replace(
        a,
        end=b.end,
        samples=a.samples + b.samples,
        util=avg(a.util, b.util) or 0.0,
        memory_used_mib=avg(a.memory_used_mib, b.memory_used_mib) or 0.0,
        allocated=avg(a.allocated, b.allocated) or 0.0,
        gpm_share=avg(a.gpm_share, b.gpm_share) or 0.0,
        sm_active=avg(a.sm_active, b.sm_active),
        tensor_active=avg(a.tensor_active, b.tensor_active),
        dram_active=avg(a.dram_active, b.dram_active),
        phases=tuple(dict.fromkeys((*a.phases, *b.phases))),
    )


def _span_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _recommend(kind: WasteKind, s: Segment) -> tuple[Action, str]:
    signal = "SM activity" if s.basis is Basis.GPM else "utilisation (no GPM: SM activity unknown)"
    span = _span_text(s.end - s.start)
    held_gib = s.memory_used_mib / 1024.0
    pct = f"{s.activity * 100:.1f}%"
    if kind is WasteKind.SQUATTING:
        return Action.RELEASE, (
            f"release the GPU: {held_gib:.1f} GiB held with {signal} at {pct} for "
            f"{span}; others could use it"
        )
    if kind is WasteKind.IDLE and s.util >= 0.10:
        # Kernels do run (the utilisation counter says so), on a sliver of the SMs: the work
        # is real but would fit in a small share of this GPU.
        action = (
            Action.MIG_SLICE
            if s.memory_used_mib <= s.memory_total_mib / 2
            else (Action.CO_LOCATION)
        )
        return action, (
            f"{signal} at {pct} for {span} although NVML utilisation reads "
            f"{s.util * 100:.0f}%: kernels run but barely use the SMs; batch them, or move "
            f"the work to a {'MIG slice' if action is Action.MIG_SLICE else 'shared GPU'}"
        )
    if kind is WasteKind.IDLE:
        return Action.RELEASE, f"release the GPU: {signal} at {pct} for {span}"
    if kind is WasteKind.MEMORY_BOUND:
        return Action.CO_LOCATION, (
            f"DRAM {100 * (s.dram_active or 0):.0f}% busy while {signal} is {pct}: batch or fuse "
            "the work, or co-locate a compute-bound job on this GPU"
        )
    if s.memory_used_mib <= s.memory_total_mib / 2:
        return Action.MIG_SLICE, (
            f"{signal} at {pct} with {held_gib:.1f} GiB used: a MIG slice or a smaller GPU would do"
        )
    return Action.CO_LOCATION, (
        f"{signal} at {pct} but {held_gib:.1f} GiB used: share the GPU (co-location) "
        "or move to a smaller GPU with enough memory"
    )


def find_waste(
    observations: Iterable[Observation],
    policy: WastePolicy | None = None,
    usd_per_gpu_hour: float = 0.0,
) -> list[WasteFinding]:
    """Findings for every GPU in ``observations``, ordered by GPU then start."""
    policy = policy or WastePolicy()
    by_gpu: dict[int, list[Observation]] = {}
    for o in observations:
        by_gpu.setdefault(o.gpu, []).append(o)
    findings: list[WasteFinding] = []
    for gpu in sorted(by_gpu):
        series = sorted(by_gpu[gpu], key=lambda o: o.t)
        merged: list[tuple[WasteKind | None, Segment]] = []
        for seg in segments(series, policy):
            kind = classify(seg, policy)
            if merged and merged[-1][0] == kind:
                merged[-1] = (kind, _merge(merged[-1][1], seg))
            else:
                merged.append((kind, seg))
        for kind, seg in merged:
            duration = seg.end - seg.start
            if kind is None or duration < policy.min_duration_s:
                continue
            hours = duration / 3600.0
            action, text = _recommend(kind, seg)
            findings.append(
                WasteFinding(
                    kind=kind,
                    gpu=gpu,
                    start=seg.start,
                    end=seg.end,
                    gpu_hours=hours,
                    usd=hours * usd_per_gpu_hour,
                    action=action,
                    recommendation=text,
                    basis=seg.basis,
                    activity=seg.activity,
                    util=seg.util,
                    memory_used_mib=seg.memory_used_mib,
                    sm_active=seg.sm_active,
                    dram_active=seg.dram_active,
                    phases=seg.phases,
                )
            )
    return findings


def total_usd(findings: Iterable[WasteFinding]) -> float:
    return math.fsum(f.usd for f in findings)
