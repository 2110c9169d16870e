"""Workloads: what to run, with what, where it may run, and how urgent it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from enum import StrEnum
from typing import Any

from aiplane.core.resources import Resources


class WorkloadKind(StrEnum):
    TRAIN = "train"
    FINETUNE = "finetune"
    BATCH = "batch"
    SERVE = "serve"


class SpotPolicy(StrEnum):
    NEVER = "never"
    ALLOWED = "allowed"
    REQUIRED = "required"


PRIORITY_CLASSES: dict[str, int] = {"low": 100, "normal": 500, "high": 1000, "critical": 10000}


@dataclass(frozen=True)
class AcceleratorOption:
    """One acceptable accelerator for a replica: type, count per replica, relative speed."""

    name: str
    count: float
    speed: float = 1.0
    # A MIG slice such as "1g.10gb": ``count`` is then its share of the GPU (1/7 per slice).
    mig_profile: str | None = None


@dataclass(frozen=True)
class Constraints:
    jurisdictions: tuple[str, ...] = ()
    site_kinds: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    # A site's ``provider`` (``gcp``, ``azure``) and ``region``: empty means any.
    clouds: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    # SkyPilot's ``infra`` as written (``gcp/us-central1``) when ``clouds`` and ``regions``
    # came from it: only to name that field in problems; ``clouds`` and ``regions`` are what
    # placement enforces (decision 0040).
    infra: str | None = None
    max_usd_per_hour: float | None = None
    latency_slo_ms: Mapping[str, float] = field(default_factory=dict)


# Bounds on each limit (decision 0036): what the kernel's rlimits can be set to. NOFILE above
# the kernel's nr_open (1048576 by default) is refused by setrlimit, and a memory limit below a
# few MiB stops even the shell from starting.
CPU_SECONDS_MAX = 10 * 365 * 24 * 3600
MEMORY_MIN_BYTES = 16 * 1024**2
MEMORY_MAX_BYTES = 2**60
OPEN_FILES_MAX = 1024 * 1024
PROCESSES_MAX = 4 * 1024 * 1024


@dataclass(frozen=True)
class ProcessLimits:
    """Limits on each process of a replica's command (``resources.limits``); None: no limit.

    Per process, as the kernel's rlimits are (decision 0036): ``cpu_seconds`` is CPU time, not
    wall time; ``memory_bytes`` bounds a process's data (heap and private writable mappings),
    not its address space; ``processes`` counts every process of the user the command runs as.
    """

    cpu_seconds: int | None = None
    memory_bytes: int | None = None
    open_files: int | None = None
    processes: int | None = None

    def any(self) -> bool:
        return any(v is not None for v in astuple(self))

    def within(self, ceiling: ProcessLimits) -> ProcessLimits:
        """These limits lowered to ``ceiling`` (a pool's): the lower of each pair, the one
        that is set when only one is."""

        def lower(mine: int | None, most: int | None) -> int | None:
            if mine is None or most is None:
                return most if mine is None else mine
            return min(mine, most)

        return ProcessLimits(
            lower(self.cpu_seconds, ceiling.cpu_seconds),
            lower(self.memory_bytes, ceiling.memory_bytes),
            lower(self.open_files, ceiling.open_files),
            lower(self.processes, ceiling.processes),
        )


@dataclass(frozen=True)
class ModelOutput:
    """A folder a run writes (relative to its workdir), registered as a version of ``model``
    when the run succeeds."""

    model: str
    path: str
    flavor: str | None = None


@dataclass(frozen=True)
class ServiceSpec:
    """A replica that serves until stopped (an endpoint's): the backend gives it a port
    (``AIPLANE_PORT``), reports it ready once ``readiness_path`` answers 2xx (a TCP connect
    when None), restarts its command when it exits, waiting ``backoff_initial_s`` and doubling
    up to ``backoff_max_s`` (reset after ``backoff_reset_s`` of running), and drains it before
    a stop."""

    readiness_path: str | None = None
    restart: bool = True
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    backoff_reset_s: float = 60.0


@dataclass(frozen=True)
class Workload:
    name: str
    team: str
    kind: WorkloadKind
    run: str
    replicas: int = 1
    accelerators: tuple[AcceleratorOption, ...] = ()  # empty: a CPU-only workload
    cpus: float = 1.0
    memory_gib: float = 1.0
    priority: int = PRIORITY_CLASSES["normal"]
    estimated_hours: float | None = None
    checkpoint_minutes: float | None = None
    spot: SpotPolicy = SpotPolicy.ALLOWED
    inputs: tuple[str, ...] = ()
    # The model version the run is given (verified, its files in AIPLANE_MODEL_DIR), and the
    # folders it registers as model versions when it succeeds.
    model: str | None = None
    outputs: tuple[ModelOutput, ...] = ()
    constraints: Constraints = field(default_factory=Constraints)
    # On rented (on-demand or spot) capacity each replica gets an instance of its own unless
    # the workload allows its replicas to share one (decision 0039).
    pack: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    # Cost allocation: budgets per project, reports by project and model (labels["model"]).
    project: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # Not part of the placement signature: a limit changes how the command runs, not where.
    limits: ProcessLimits = field(default_factory=ProcessLimits)
    # A long-running service (an endpoint's replica); None: a command that runs to its end.
    service: ServiceSpec | None = None

    # Everything that decides which (pool, accelerator) pairs can take this workload, whatever
    # its duration: workloads with equal signatures share the scheduler's screening work.
    # Computed once at construction; a scheduling cycle reads it for every pending run.
    placement_signature: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        c = self.constraints
        signature = (
            tuple((o.name, o.count) for o in self.accelerators), self.cpus, self.memory_gib,
            self.kind, self.spot, self.inputs, c.jurisdictions, c.site_kinds, c.sites,
            c.clouds, c.regions, tuple(sorted(c.latency_slo_ms.items())), self.pack,
        )  # fmt: skip
        object.__setattr__(self, "placement_signature", signature)

    def replica_need(self, option: AcceleratorOption | None) -> Resources:
        gpus = option.count if option is not None else 0.0
        return Resources(gpus, self.cpus, self.memory_gib)

    def options(self) -> tuple[AcceleratorOption | None, ...]:
        """Acceptable accelerator options, or a single ``None`` for CPU-only work."""
        return self.accelerators or (None,)
