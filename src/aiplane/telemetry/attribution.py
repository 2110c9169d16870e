"""Which run each GPU sample belongs to, and per-run aggregates of what the runs did. Pure.

Two ways to know, used together:

- declared: the run's placement says it holds GPU N (``gpu_indices`` of its assignments). That
  is what it pays for, whether it uses the GPU or not, and the only way for the emulated
  backend, whose GPUs are declared rather than real.
- pid: a process of the run (local backend: the replica's process group) is on GPU N, as NVML
  lists it. That confirms use and catches processes on GPUs they were not given.

A GPU claimed by several runs (fractional GPUs) is shared equally among them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from aiplane.telemetry.base import GpuSample


class Basis(StrEnum):
    PID = "pid"
    DECLARED = "declared"


@dataclass(frozen=True)
class RunAllocation:
    run_id: str
    job_id: str
    gpu_indices: frozenset[int] = frozenset()  # declared, on the GPUs the samples come from
    pids: frozenset[int] = frozenset()  # the run's live processes, where known


@dataclass(frozen=True)
class Attribution:
    run_id: str
    job_id: str
    sample: GpuSample
    basis: Basis
    share: float  # of the GPU, 0..1


def attribute(
    samples: Sequence[GpuSample], allocations: Sequence[RunAllocation]
) -> list[Attribution]:
    """Every (sample, run) pair where the run holds or uses the sample's GPU."""
    by_pid: dict[int, RunAllocation] = {}
    for a in allocations:
        for pid in a.pids:
            by_pid.setdefault(pid, a)
    out: list[Attribution] = []
    for sample in samples:
        claims: dict[str, tuple[RunAllocation, Basis]] = {}
        for proc in sample.processes:
            owner = by_pid.get(proc.pid)
            if owner is not None:
                claims[owner.run_id] = (owner, Basis.PID)
        for a in allocations:
            if sample.index in a.gpu_indices and a.run_id not in claims:
                claims[a.run_id] = (a, Basis.DECLARED)
        share = 1.0 / len(claims) if claims else 0.0
        out.extend(
            Attribution(a.run_id, a.job_id, sample, basis, share) for a, basis in claims.values()
        )
    return out


@dataclass(frozen=True)
class RunUsage:
    """What one run's GPUs did, accumulated over the samples attributed to it.

    Sums are weighted by the time each sample stands for and by the run's share of the GPU, so
    ``gpu_seconds`` is what metering charges and the averages are per GPU-second.
    """

    run_id: str
    job_id: str
    first_t: float
    last_t: float
    samples: int = 0
    gpu_seconds: float = 0.0
    util_gpu_seconds: float = 0.0  # plain utilisation (0..1) x GPU-seconds
    gpm_gpu_seconds: float = 0.0  # GPU-seconds for which GPM metrics were present
    sm_active_gpu_seconds: float = 0.0
    tensor_active_gpu_seconds: float = 0.0
    dram_active_gpu_seconds: float = 0.0
    energy_j: float = 0.0
    max_memory_used_mib: float = 0.0
    gpus: frozenset[int] = frozenset()

    @property
    def avg_util(self) -> float | None:
        return self.util_gpu_seconds / self.gpu_seconds if self.gpu_seconds else None

    @property
    def avg_sm_active(self) -> float | None:
        return self.sm_active_gpu_seconds / self.gpm_gpu_seconds if self.gpm_gpu_seconds else None

    @property
    def avg_tensor_active(self) -> float | None:
        if not self.gpm_gpu_seconds:
            return None
        return self.tensor_active_gpu_seconds / self.gpm_gpu_seconds


def accumulate(
    usage: Mapping[str, RunUsage], attributions: Iterable[Attribution], dt_s: float
) -> dict[str, RunUsage]:
    """``usage`` with one tick of ``attributions`` added; each sample stands for ``dt_s``."""
    grouped: dict[str, list[Attribution]] = defaultdict(list)
    for a in attributions:
        grouped[a.run_id].append(a)
    result = dict(usage)
    for run_id, items in grouped.items():
        first = items[0]
        current = result.get(run_id) or RunUsage(
            run_id, first.job_id, first.sample.t, first.sample.t
        )
        gpu_s = util = gpm_s = sm = tensor = dram = energy = 0.0
        memory = current.max_memory_used_mib
        for a in items:
            weight = dt_s * a.share
            s = a.sample
            gpu_s += weight
            util += weight * s.util_pct / 100.0
            energy += weight * (s.power_w or 0.0)
            memory = max(memory, s.memory_used_mib * a.share)
            if s.gpm is not None:
                gpm_s += weight
                sm += weight * s.gpm.sm_active
                tensor += weight * s.gpm.tensor_active
                dram += weight * s.gpm.dram_active
        result[run_id] = replace(
            current,
            last_t=max(current.last_t, *(a.sample.t for a in items)),
            samples=current.samples + len(items),
            gpu_seconds=current.gpu_seconds + gpu_s,
            util_gpu_seconds=current.util_gpu_seconds + util,
            gpm_gpu_seconds=current.gpm_gpu_seconds + gpm_s,
            sm_active_gpu_seconds=current.sm_active_gpu_seconds + sm,
            tensor_active_gpu_seconds=current.tensor_active_gpu_seconds + tensor,
            dram_active_gpu_seconds=current.dram_active_gpu_seconds + dram,
            energy_j=current.energy_j + energy,
            max_memory_used_mib=memory,
            gpus=current.gpus | {a.sample.index for a in items},
        )
    return result
