from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.backends.base import GpuInventory, ReplicaStatus
from aiplane.backends.local import LocalBackend

from .helpers import make_spec, wait_status

_SHOW = 'echo "cvd=[$CUDA_VISIBLE_DEVICES] order=$CUDA_DEVICE_ORDER emulated=$AIPLANE_EMULATED"'


@pytest.fixture
def local(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "work")


def test_gpu_indices_become_cuda_visible_devices(local: LocalBackend) -> None:
    spec = make_spec(command=_SHOW, accelerator="H100-80GB", gpus=2, gpu_indices=(1, 3))
    handle = local.launch(spec)
    wait_status(local, handle, ReplicaStatus.EXITED)
    assert "cvd=[1,3] order=PCI_BUS_ID emulated=0" in local.logs(handle)


def test_a_cpu_job_sees_no_gpu_even_when_the_control_plane_does(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    spec = make_spec(command=_SHOW, env={"CUDA_VISIBLE_DEVICES": "7"})
    handle = local.launch(spec)
    wait_status(local, handle, ReplicaStatus.EXITED)
    assert "cvd=[]" in local.logs(handle)


def test_local_is_labelled_real_and_has_no_banner(local: LocalBackend) -> None:
    handle = local.launch(make_spec(command="echo first"))
    wait_status(local, handle, ReplicaStatus.EXITED)
    assert local.logs(handle).splitlines() == ["first"]
    assert handle["emulated"] is False and local.emulated is False


def test_local_is_a_gpu_inventory(local: LocalBackend) -> None:
    assert isinstance(local, GpuInventory)
    # Whatever this machine has, the answer is a list (empty without NVML or a driver).
    assert isinstance(local.gpus(), list)
