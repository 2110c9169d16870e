"""The control plane in Prometheus text format: a collector that reads the state at scrape time.

GPU series use dcgm-exporter's names, units and labels (``gpu``, ``UUID``, ``device``,
``modelName``, ``Hostname``), so dashboards and alerts written for dcgm-exporter work unchanged;
aiplane's own series are prefixed ``aiplane_`` and in base units (seconds, bytes, ratios, USD).
Nothing is registered in prometheus_client's global registry: each app has its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from aiplane.services.container import MetricsService
from aiplane.telemetry.base import GpuSample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_GPU_LABELS = ["gpu", "UUID", "device", "modelName", "Hostname"]

# (name, help, value of a sample or None when unknown); counters are marked below.
_DCGM: tuple[tuple[str, str, Callable[[GpuSample], float | None]], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda s: s.util_pct),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", lambda s: s.mem_util_pct),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda s: s.memory_used_mib),
    (
        "DCGM_FI_DEV_FB_FREE",
        "Framebuffer memory free (in MiB).",
        lambda s: s.memory_total_mib - s.memory_used_mib,
    ),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda s: s.power_w),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda s: s.temperature_c),
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda s: s.sm_clock_mhz),
    ("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", lambda s: s.mem_clock_mhz),
    (
        "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
        "Current clock throttle reasons (bitmask).",
        lambda s: float(s.throttle_reasons),
    ),
    (
        "DCGM_FI_PROF_SM_ACTIVE",
        "The ratio of cycles an SM has at least 1 warp assigned (0..1).",
        lambda s: s.gpm.sm_active if s.gpm else None,
    ),
    (
        "DCGM_FI_PROF_SM_OCCUPANCY",
        "The ratio of number of warps resident on an SM (0..1).",
        lambda s: s.gpm.sm_occupancy if s.gpm else None,
    ),
    (
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "Ratio of cycles the tensor (HMMA) pipe is active (0..1).",
        lambda s: s.gpm.tensor_active if s.gpm else None,
    ),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
        lambda s: s.gpm.dram_active if s.gpm else None,
    ),
    (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "Ratio of time the graphics engine is active (0..1).",
        lambda s: s.gpm.graphics_active if s.gpm else None,
    ),
)


def _gpu_labels(s: GpuSample) -> list[str]:
    return [str(s.index), s.uuid, f"nvidia{s.index}", s.name, s.hostname]


class ControlPlaneCollector(Collector):
    def __init__(self, metrics: MetricsService) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._gpus()
        yield from self._plane()

    def _gpus(self) -> Iterator[Metric]:
        snap = self.metrics.telemetry()
        for name, help_text, read in _DCGM:
            family = GaugeMetricFamily(name, help_text, labels=_GPU_LABELS)
            for s in snap.samples:
                value = read(s)
                if value is not None:
                    family.add_metric(_gpu_labels(s), value)
            yield family
        # dcgm-exporter's counter keeps its name (no _total suffix) and is in mJ.
        energy = GaugeMetricFamily(
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "Total energy consumption since boot (in mJ).",
            labels=_GPU_LABELS,
        )
        for s in snap.samples:
            if s.energy_j is not None:
                energy.add_metric(_gpu_labels(s), s.energy_j * 1000.0)
        yield energy
        # Which run holds each GPU: join on gpu/UUID in PromQL to split GPU series by run.
        owner = GaugeMetricFamily(
            "aiplane_gpu_run_info",
            "1 for each (GPU, run) pair where the run holds or uses the GPU.",
            labels=["gpu", "UUID", "Hostname", "run"],
        )
        for s in snap.samples:
            for run_id in snap.gpu_runs.get(s.index, ()):
                owner.add_metric([str(s.index), s.uuid, s.hostname, run_id], 1.0)
        yield owner
        usage = CounterMetricFamily(
            "aiplane_run_gpu_seconds",
            "GPU-seconds attributed to each run by telemetry (since this process started).",
            labels=["run", "job"],
        )
        sm = GaugeMetricFamily(
            "aiplane_run_sm_active_ratio",
            "Each run's average SM activity over its GPU-seconds (GPM; 0..1).",
            labels=["run", "job"],
        )
        for u in snap.usage.values():
            usage.add_metric([u.run_id, u.job_id], u.gpu_seconds)
            if u.avg_sm_active is not None:
                sm.add_metric([u.run_id, u.job_id], u.avg_sm_active)
        yield usage
        yield sm
        if snap.host is not None:
            h = snap.host
            yield GaugeMetricFamily(
                "aiplane_host_cpu_ratio", "Host CPU busy (0..1).", value=h.cpu_pct / 100.0
            )
            yield GaugeMetricFamily(
                "aiplane_host_memory_used_bytes", "Host memory in use.", value=h.memory_used_bytes
            )
            yield GaugeMetricFamily(
                "aiplane_host_memory_total_bytes", "Host memory.", value=h.memory_total_bytes
            )
        yield CounterMetricFamily(
            "aiplane_telemetry_samples", "Telemetry ticks taken.", value=snap.ticks
        )
        if snap.last_t is not None:
            yield GaugeMetricFamily(
                "aiplane_telemetry_last_sample_timestamp_seconds",
                "When telemetry was last sampled (unix seconds).",
                value=snap.last_t,
            )

    def _plane(self) -> Iterator[Metric]:
        m = self.metrics.plane()
        runs = GaugeMetricFamily("aiplane_runs", "Runs by state.", labels=["state"])
        for state, count in m.runs_by_state.items():
            runs.add_metric([str(state)], count)
        yield runs
        yield GaugeMetricFamily(
            "aiplane_queue_pending_runs", "Runs waiting to be placed.", value=m.queue.pending
        )
        yield GaugeMetricFamily(
            "aiplane_queue_oldest_wait_seconds",
            "How long the longest-waiting pending run has waited.",
            value=m.queue.oldest_wait_s,
        )
        q = m.queue
        buckets = [(f"{b:g}", float(c)) for b, c in q.wait_buckets] + [
            ("+Inf", float(q.wait_count))
        ]
        yield HistogramMetricFamily(
            "aiplane_queue_wait_seconds",
            "How long runs waited from submission to start.",
            buckets=buckets,
            sum_value=q.wait_sum_s,
        )
        cost = CounterMetricFamily(
            "aiplane_cost_usd",
            "Cost so far (effective USD: compute and egress of every attempt), metered as the "
            "cost reports meter it.",
            labels=["site", "pool"],
        )
        for (site, pool), usd in sorted(m.cost_usd.items()):
            cost.add_metric([site, pool], usd)
        yield cost


def registry_for(metrics: MetricsService) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ControlPlaneCollector(metrics))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
