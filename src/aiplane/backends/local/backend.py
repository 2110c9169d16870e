"""The local backend: replicas as supervised processes on this machine, on its real GPUs."""

from __future__ import annotations

from collections.abc import Mapping

from aiplane.backends.base import GpuDevice, LaunchSpec
from aiplane.backends.local.nvml import read_gpus
from aiplane.backends.process.backend import ProcessBackend


class LocalBackend(ProcessBackend):
    """Runs each replica as a local process group; implements ``GpuInventory`` through NVML."""

    name: str = "local"
    emulated: bool = False

    def replica_env(self, spec: LaunchSpec) -> Mapping[str, str]:
        return {
            # Empty when the spec has no GPUs: a CPU job must never grab one by default.
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in spec.gpu_indices),
            # CUDA numbers devices fastest-first unless told otherwise; NVML, which gave us the
            # indices, numbers them by PCI bus. Make index N mean the same device to both.
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        }

    def gpus(self) -> list[GpuDevice]:
        return read_gpus()
