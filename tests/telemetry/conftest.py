from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "h200-phases.jsonl"
# The full recording lives in the shared data beside the repository; tests that need it skip
# when it is absent (shipped code never reads it).
SHARED_H200 = Path(__file__).resolve().parents[3] / "shared/data/gpu-telemetry/h200/telemetry.jsonl"


@pytest.fixture
def shared_h200() -> Path:
    if not SHARED_H200.is_file():
        pytest.skip(f"shared H200 recording not found at {SHARED_H200}")
    return SHARED_H200
