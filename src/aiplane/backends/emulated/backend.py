"""The emulated backend: declared capacity, real execution.

A pool that declares "16 nodes of 8 x H100 in gcp us-central1" runs each replica as a real local
process that is told which devices it was given (``AIPLANE_EMULATED_DEVICES``) but sees no real
GPU (``CUDA_VISIBLE_DEVICES`` is empty), and whose output says so in its first line. It serves
demos, tests and what-if planning; nothing it runs may pass for real accelerator work.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiplane.backends.base import LaunchSpec
from aiplane.backends.process.backend import ProcessBackend
from aiplane.backends.process.launcher import declared_indices, format_gpus


def emulated_devices(spec: LaunchSpec) -> str:
    """``"H100-80GB:0,1,2,3"``: the declared accelerator and device indices, "" for none."""
    if not spec.accelerator:
        return ""
    return f"{spec.accelerator}:{','.join(str(i) for i in declared_indices(spec))}"


class EmulatedBackend(ProcessBackend):
    name: str = "emulated"
    emulated: bool = True

    def replica_env(self, spec: LaunchSpec) -> Mapping[str, str]:
        return {
            "CUDA_VISIBLE_DEVICES": "",  # declared GPUs are not this machine's GPUs
            "AIPLANE_EMULATED_DEVICES": emulated_devices(spec),
        }

    def banner(self, spec: LaunchSpec) -> str:
        if spec.accelerator and spec.gpus > 0:
            declared = f"{format_gpus(spec.gpus)} x {spec.accelerator}"
        else:
            declared = "no accelerators"
        return (
            f"[aiplane] emulated replica: declared {declared} on {spec.site}/{spec.pool} "
            f"node {spec.node} (runs as a local process)"
        )
