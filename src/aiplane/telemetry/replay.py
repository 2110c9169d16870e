"""Recorded telemetry: reading and writing recordings, and a source that plays them back.

The format is the one of the H200 recording (``shared/data/gpu-telemetry/h200/``): JSON lines,
one object per sample, NVML's own units (``power_mw``, ``energy_mj``, percent for utilisation
and for the ``gpm`` block). Optional fields extend it to several GPUs and processes:
``gpu`` (index), ``uuid``, ``name``, ``hostname``, and ``procs`` as a list of
``{"pid", "used_memory_mib"}`` instead of a count. A ``static.json`` beside the file (as NVML
reported the device) supplies the name and UUID when the lines do not.
"""

from __future__ import annotations

import bisect
import json
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiplane.core.errors import Problem, SpecError
from aiplane.telemetry.base import GpmMetrics, GpuInfo, GpuProcess, GpuSample

_PCT = 100.0
# Used when a recording lacks a static.json and its lines name no model.
_UNKNOWN_MODEL = "unknown GPU"


@dataclass(frozen=True)
class Recording:
    gpus: tuple[GpuInfo, ...]
    samples: tuple[GpuSample, ...]  # in time order

    def of_gpu(self, index: int) -> list[GpuSample]:
        return [s for s in self.samples if s.index == index]

    @property
    def span_s(self) -> float:
        return self.samples[-1].t - self.samples[0].t if self.samples else 0.0


def _num(row: Mapping[str, Any], key: str, scale: float = 1.0) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, not {value!r}")
    return float(value) / scale


def _gpm(block: Any) -> GpmMetrics | None:
    if not isinstance(block, Mapping) or "sm_util" not in block:
        return None
    graphics = block.get("graphics_util")
    return GpmMetrics(
        sm_active=float(block["sm_util"]) / _PCT,
        sm_occupancy=float(block.get("sm_occupancy", 0.0)) / _PCT,
        tensor_active=float(block.get("any_tensor_util", 0.0)) / _PCT,
        dram_active=float(block.get("dram_bw_util", 0.0)) / _PCT,
        graphics_active=float(graphics) / _PCT if graphics is not None else None,
    )


def _processes(raw: Any) -> tuple[tuple[GpuProcess, ...], int]:
    if raw is None:
        return (), 0
    if isinstance(raw, int) and not isinstance(raw, bool):
        return (), raw
    if isinstance(raw, list):
        procs = tuple(
            GpuProcess(int(p["pid"]), p.get("used_memory_mib")) for p in raw if "pid" in p
        )
        return procs, len(procs)
    raise ValueError(f"procs must be a count or a list of processes, not {raw!r}")


def parse_sample(row: Mapping[str, Any], defaults: GpuInfo) -> GpuSample:
    """One recorded line as a sample; ``defaults`` fills what the line does not say."""
    processes, count = _processes(row.get("procs"))
    util = _num(row, "util_gpu_pct")
    used = _num(row, "fb_used_mib")
    t = _num(row, "t")
    if util is None or used is None or t is None:
        raise ValueError("t, util_gpu_pct and fb_used_mib are required")
    return GpuSample(
        t=t,
        index=int(row.get("gpu", defaults.index)),
        uuid=str(row.get("uuid", defaults.uuid)),
        name=str(row.get("name", defaults.name)),
        hostname=str(row.get("hostname", defaults.hostname)),
        util_pct=util,
        memory_used_mib=used,
        memory_total_mib=_num(row, "fb_total_mib") or defaults.memory_total_mib,
        mem_util_pct=_num(row, "util_mem_pct"),
        power_w=_num(row, "power_mw", 1000.0),
        energy_j=_num(row, "energy_mj", 1000.0),
        temperature_c=_num(row, "temp_c"),
        sm_clock_mhz=_num(row, "sm_clock_mhz"),
        mem_clock_mhz=_num(row, "mem_clock_mhz"),
        throttle_reasons=int(row.get("throttle_reasons") or 0),
        processes=processes,
        process_count=count,
        gpm=_gpm(row.get("gpm")),
        phase=str(row["phase"]) if row.get("phase") is not None else None,
    )


def sample_to_record(sample: GpuSample) -> dict[str, Any]:
    """The recording line for ``sample`` (the inverse of ``parse_sample``)."""
    record: dict[str, Any] = {
        "t": sample.t,
        "gpu": sample.index,
        "uuid": sample.uuid,
        "name": sample.name,
        "hostname": sample.hostname,
        "util_gpu_pct": sample.util_pct,
        "util_mem_pct": sample.mem_util_pct,
        "fb_used_mib": sample.memory_used_mib,
        "fb_total_mib": sample.memory_total_mib,
        "power_mw": None if sample.power_w is None else sample.power_w * 1000.0,
        "energy_mj": None if sample.energy_j is None else sample.energy_j * 1000.0,
        "temp_c": sample.temperature_c,
        "sm_clock_mhz": sample.sm_clock_mhz,
        "mem_clock_mhz": sample.mem_clock_mhz,
        "throttle_reasons": sample.throttle_reasons,
        "procs": (
            [{"pid": p.pid, "used_memory_mib": p.used_memory_mib} for p in sample.processes]
            if sample.processes
            else sample.process_count
        ),
    }
    if sample.phase is not None:
        record["phase"] = sample.phase
    if sample.gpm is not None:
        g = sample.gpm
        record["gpm"] = {
            "sm_util": g.sm_active * _PCT,
            "sm_occupancy": g.sm_occupancy * _PCT,
            "any_tensor_util": g.tensor_active * _PCT,
            "dram_bw_util": g.dram_active * _PCT,
            **({} if g.graphics_active is None else {"graphics_util": g.graphics_active * _PCT}),
        }
    return record


def _static_defaults(static_path: Path | None, hostname: str) -> GpuInfo:
    data: dict[str, Any] = {}
    if static_path is not None and static_path.is_file():
        try:
            loaded = json.loads(static_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SpecError(
                "unreadable static.json", [Problem(str(static_path), str(exc))]
            ) from exc
        data = loaded if isinstance(loaded, dict) else {}
    memory = data.get("memory", {}).get("total") if isinstance(data.get("memory"), dict) else None
    limit = data.get("power_limit_mw")
    return GpuInfo(
        index=0,
        uuid=str(data.get("uuid", "GPU-00000000-0000-0000-0000-000000000000")),
        name=str(data.get("name", _UNKNOWN_MODEL)),
        memory_total_mib=float(memory) / 2**20 if memory else 0.0,
        hostname=hostname,
        power_limit_w=float(limit) / 1000.0 if limit else None,
        gpm_supported=bool(data.get("gpm_supported", False)),
        mig_enabled=bool((data.get("mig_mode") or [0])[0]),
    )


def parse_lines(
    lines: Iterable[str], defaults: GpuInfo, source: str = "recording"
) -> list[GpuSample]:
    samples: list[GpuSample] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("each line must be a JSON object")
            samples.append(parse_sample(row, defaults))
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(Problem(f"{source}:{number}", str(exc)))
            if len(problems) >= 10:
                break
    if problems:
        raise SpecError(f"{source} is not a telemetry recording", problems)
    samples.sort(key=lambda s: (s.t, s.index))
    return samples


def load_recording(
    path: str | Path, static_path: str | Path | None = None, hostname: str | None = None
) -> Recording:
    """Read a JSONL recording (and ``static.json`` beside it unless another is named)."""
    path = Path(path)
    static = Path(static_path) if static_path else path.with_name("static.json")
    defaults = _static_defaults(static, hostname or socket.gethostname())
    try:
        with path.open(encoding="utf-8") as f:
            samples = parse_lines(f, defaults, path.name)
    except OSError as exc:
        raise SpecError("cannot read the recording", [Problem(str(path), str(exc))]) from exc
    if not samples:
        raise SpecError("the recording holds no samples", [Problem(str(path), "empty")])
    return Recording(_gpus_of(samples, defaults), tuple(samples))


def _gpus_of(samples: Sequence[GpuSample], defaults: GpuInfo) -> tuple[GpuInfo, ...]:
    first: dict[int, GpuSample] = {}
    for s in samples:
        first.setdefault(s.index, s)
    return tuple(
        replace(
            defaults,
            index=s.index,
            uuid=s.uuid,
            name=s.name,
            hostname=s.hostname,
            memory_total_mib=s.memory_total_mib,
            gpm_supported=defaults.gpm_supported or s.gpm is not None,
        )
        for _, s in sorted(first.items())
    )


def _replica_uuid(uuid: str, k: int) -> str:
    # Distinct, stable and still shaped like an NVML UUID: the last 4 hex digits carry k.
    return f"{uuid[:-4]}{k:04x}" if k else uuid


class ReplaySource:
    """Plays a recording back by time offset from the first ``sample`` call (or ``start``).

    ``sample(now)`` returns, per GPU, the last recorded sample at or before ``now - start`` into
    the recording, re-timed onto the caller's timeline, so a virtual clock drives it as well as
    the wall clock. With ``gpus`` greater than the GPUs recorded, the recording is repeated
    over that many GPUs, each shifted in time so that they are not in lock-step. With ``loop``
    the recording starts over when it ends; without, the last sample stays.
    """

    name = "replay"

    def __init__(
        self,
        recording: Recording,
        *,
        gpus: int | None = None,
        loop: bool = True,
        start: float | None = None,
    ) -> None:
        if not recording.samples:
            raise ValueError("an empty recording cannot be replayed")
        self.recording = recording
        self.loop = loop
        self._start = start
        recorded = [recording.of_gpu(g.index) for g in recording.gpus]
        count = gpus if gpus is not None else len(recorded)
        t0 = recording.samples[0].t
        # One sample interval past the last sample, so a loop does not repeat an instant.
        gaps = [b.t - a.t for a, b in zip(recording.samples, recording.samples[1:], strict=False)]
        self.period_s = recording.span_s + (sorted(gaps)[len(gaps) // 2] if gaps else 1.0)
        self._timelines: list[list[GpuSample]] = []
        self._offsets: list[list[float]] = []
        self._shift: list[float] = []
        self._info: list[GpuInfo] = []
        for k in range(count):
            series = recorded[k % len(recorded)]
            info = recording.gpus[k % len(recorded)]
            uuid = _replica_uuid(info.uuid, k if k >= len(recorded) else 0)
            self._info.append(replace(info, index=k, uuid=uuid))
            self._timelines.append([replace(s, index=k, uuid=uuid) for s in series])
            self._offsets.append([s.t - t0 for s in series])
            self._shift.append(self.period_s * (k // len(recorded)) / max(1, count))

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> ReplaySource:
        return cls(load_recording(path), **kwargs)

    def static(self) -> list[GpuInfo]:
        return list(self._info)

    def sample(self, now: float) -> list[GpuSample]:
        if self._start is None:
            self._start = now
        elapsed = max(0.0, now - self._start)
        out: list[GpuSample] = []
        for timeline, offsets, shift in zip(
            self._timelines, self._offsets, self._shift, strict=True
        ):
            position = elapsed + shift
            if self.loop:
                position %= self.period_s
            i = max(0, bisect.bisect_right(offsets, position) - 1)
            out.append(replace(timeline[i], t=now - (position - offsets[i])))
        return out

    def close(self) -> None:
        pass
