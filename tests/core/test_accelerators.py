"""Accelerator names: what a driver calls a device, in aiplane's names."""

from __future__ import annotations

import pytest

from aiplane.core.accelerators import canonical_gpu_name


@pytest.mark.parametrize(
    ("driver_name", "memory_gib", "expected"),
    [
        ("NVIDIA H200", 140.4, "H200"),
        ("NVIDIA H100 80GB HBM3", 79.6, "H100-80GB"),
        ("NVIDIA H100 PCIe", 79.6, "H100-80GB"),
        ("NVIDIA A100-SXM4-80GB", 80.0, "A100-80GB"),
        ("NVIDIA A100-SXM4-40GB", 40.0, "A100-40GB"),
        ("NVIDIA A100-PCIE-40GB", 40.0, "A100-40GB"),
        ("NVIDIA A100 80GB PCIe", 80.0, "A100-80GB"),
        ("NVIDIA L40S", 44.7, "L40S"),
        ("NVIDIA L4", 22.5, "L4"),
        ("NVIDIA A10G", 22.5, "A10G"),
        ("NVIDIA A10", 22.5, "A10"),
        ("Tesla T4", 15.0, "T4"),
        ("Tesla V100-SXM2-16GB", 15.8, "V100"),
        # Known family, unknown size: keep the driver's name rather than mislabel it.
        ("NVIDIA H100 NVL", 93.6, "NVIDIA H100 NVL"),
        ("Tesla V100-SXM2-32GB", 31.7, "Tesla V100-SXM2-32GB"),
        ("NVIDIA GeForce RTX 4090", 23.6, "NVIDIA GeForce RTX 4090"),
        # Without a memory size the name decides, aliases included.
        ("NVIDIA H100 80GB HBM3", None, "H100-80GB"),
        ("NVIDIA A100-SXM4-80GB", None, "A100-80GB"),
    ],
)
def test_canonical_gpu_name(driver_name: str, memory_gib: float | None, expected: str) -> None:
    assert canonical_gpu_name(driver_name, memory_gib) == expected
