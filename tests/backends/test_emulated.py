from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.backends.base import GpuInventory, ReplicaStatus
from aiplane.backends.emulated import EmulatedBackend

from .helpers import make_spec, wait_status


@pytest.fixture
def emulated(tmp_path: Path) -> EmulatedBackend:
    return EmulatedBackend(tmp_path / "work")


def test_output_is_labelled_and_no_real_gpu_is_visible(
    emulated: EmulatedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    spec = make_spec(
        command='echo "cvd=[$CUDA_VISIBLE_DEVICES] devices=$AIPLANE_EMULATED_DEVICES '
        'emulated=$AIPLANE_EMULATED"',
        site="gcp-us-central1",
        pool="a3-spot",
        node="a3-spot-3",
        accelerator="H100-80GB",
        gpus=4,
        gpu_indices=(0, 1, 2, 3),
    )
    handle = emulated.launch(spec)
    wait_status(emulated, handle, ReplicaStatus.EXITED)
    lines = emulated.logs(handle).splitlines()
    assert lines[0] == (
        "[aiplane] emulated replica: declared 4 x H100-80GB on gcp-us-central1/a3-spot "
        "node a3-spot-3 (runs as a local process)"
    )
    assert lines[1] == "cvd=[] devices=H100-80GB:0,1,2,3 emulated=1"
    assert handle["emulated"] is True


def test_declared_devices_default_to_the_first_n(emulated: EmulatedBackend) -> None:
    spec = make_spec(command="echo $AIPLANE_EMULATED_DEVICES", accelerator="L4", gpus=2)
    handle = emulated.launch(spec)
    wait_status(emulated, handle, ReplicaStatus.EXITED)
    assert emulated.logs(handle).splitlines()[1] == "L4:0,1"


def test_cpu_replica_declares_no_accelerators(emulated: EmulatedBackend) -> None:
    handle = emulated.launch(make_spec(command="echo [$AIPLANE_EMULATED_DEVICES]"))
    wait_status(emulated, handle, ReplicaStatus.EXITED)
    lines = emulated.logs(handle).splitlines()
    assert "declared no accelerators" in lines[0]
    assert lines[1] == "[]"


def test_emulated_reports_no_gpu_inventory(emulated: EmulatedBackend) -> None:
    # Its GPUs are declared in the fleet, not found on this machine.
    assert not isinstance(emulated, GpuInventory)
