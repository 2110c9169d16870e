"""What a backend of supervised local processes does, whichever machine it stands for.

``local`` and ``emulated`` differ only in the environment and banner their replicas get (real
GPUs or declared ones); everything else, including the capabilities, lives here once:
gang submission as a loop over their own replicas, batched polling, serving (``host:port``
from the pool's ``backend_config``, readiness by a TCP connect, drain by a marker file) and
process ids.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aiplane.backends.base import (
    BackendConfig,
    Handle,
    Landing,
    LaunchSpec,
    ReplicaReport,
    launch_each,
    scale_each,
)
from aiplane.backends.process.config import read_process_config
from aiplane.backends.process.launcher import ProcessLauncher
from aiplane.core.secrets_env import workload_environment

# A gang that fails half-way is stopped with this grace: nothing in it has done work yet.
_ABORT_GRACE_S = 1.0


class ProcessBackend(ABC):
    """A backend whose replicas are supervised processes on this machine."""

    name: str
    emulated: bool

    def __init__(
        self,
        work_root: Path,
        config: BackendConfig | None = None,
        *,
        environment: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        """``environment`` gives the replicas' base environment (the composition root's, less
        the control plane's secrets); without one, this process's less what its names show to
        be secret, taken now, so that a backend built on its own is safe too."""
        settings = read_process_config(self.name, config or {})
        if environment is None:
            fallback = workload_environment(os.environ)
            environment = fallback.copy
        self._launcher = ProcessLauncher(
            work_root, self.name, emulated=self.emulated, config=settings, environment=environment
        )

    @property
    def work_root(self) -> Path:
        return self._launcher.work_root

    @abstractmethod
    def replica_env(self, spec: LaunchSpec) -> Mapping[str, str]:
        """Variables of this backend that win over the spec's and the control plane's."""

    def banner(self, spec: LaunchSpec) -> str | None:  # noqa: ARG002 (a hook members override)
        """The first line of the replica's output, if any."""
        return None

    # -- the core -----------------------------------------------------------------------------

    def launch(self, spec: LaunchSpec) -> Handle:
        return self._launcher.launch(spec, self.replica_env(spec), banner=self.banner(spec))

    def poll(self, handle: Handle) -> ReplicaReport:
        return self._launcher.poll(handle)

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
        self._launcher.cancel(handle, grace_s)

    def logs(self, handle: Handle, tail_bytes: int | None = None) -> str:
        return self._launcher.logs(handle, tail_bytes)

    # -- capabilities -------------------------------------------------------------------------

    def submit_gang(self, specs: Sequence[LaunchSpec]) -> list[Landing]:
        return launch_each(self, specs, _ABORT_GRACE_S)

    def poll_many(self, handles: Sequence[Handle]) -> list[ReplicaReport]:
        return [self._launcher.poll(handle) for handle in handles]

    def address(self, handle: Handle) -> str | None:
        return self._launcher.address(handle)

    def ready(self, handle: Handle) -> bool:
        return self._launcher.ready(handle)

    def drain(self, handle: Handle) -> None:
        self._launcher.drain(handle)

    def scale(
        self, template: LaunchSpec, handles: Sequence[Handle], replicas: int, grace_s: float
    ) -> list[Handle]:
        return scale_each(self, template, handles, replicas, grace_s)

    def pids(self, handle: Handle) -> frozenset[int]:
        return self._launcher.pids(handle)
