"""The local backend: replicas as supervised processes on this machine, on its real GPUs."""

from __future__ import annotations

from pathlib import Path

from aiplane.backends.base import GpuDevice, Handle, LaunchSpec, ReplicaReport
from aiplane.backends.local.nvml import read_gpus
from aiplane.backends.process import ProcessLauncher


class LocalBackend:
    """Runs each replica as a local process group; implements ``GpuInventory`` through NVML."""

    name: str = "local"
    emulated: bool = False

    def __init__(self, work_root: Path) -> None:
        self._launcher = ProcessLauncher(work_root, self.name, emulated=False)

    def launch(self, spec: LaunchSpec) -> Handle:
        env = {
            # Empty when the spec has no GPUs: a CPU job must never grab one by default.
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in spec.gpu_indices),
            # CUDA numbers devices fastest-first unless told otherwise; NVML, which gave us the
            # indices, numbers them by PCI bus. Make index N mean the same device to both.
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        }
        return self._launcher.launch(spec, env)

    def poll(self, handle: Handle) -> ReplicaReport:
        return self._launcher.poll(handle)

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
        self._launcher.cancel(handle, grace_s)

    def logs(self, handle: Handle, tail_bytes: int | None = None) -> str:
        return self._launcher.logs(handle, tail_bytes)

    def pids(self, handle: Handle) -> frozenset[int]:
        return self._launcher.pids(handle)

    def gpus(self) -> list[GpuDevice]:
        return read_gpus()
