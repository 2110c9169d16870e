"""The accelerator shorthand NAME[:COUNT][@SPEED], table-driven."""

from __future__ import annotations

import pytest

from aiplane.core.workloads import AcceleratorOption
from aiplane.specs import ShorthandError, format_accelerator, parse_accelerator
from aiplane.specs.shorthand import COUNT_ALLOWED, SPEED_ALLOWED


@pytest.mark.parametrize(
    ("text", "name", "count", "speed"),
    [
        ("H100", "H100-80GB", 1, 1.0),
        ("H100:8", "H100-80GB", 8, 1.0),
        ("h100:8", "H100-80GB", 8, 1.0),
        ("H100-80GB:8", "H100-80GB", 8, 1.0),
        ("A100-80GB:8@0.45", "A100-80GB", 8, 0.45),
        ("A100:4", "A100-40GB", 4, 1.0),
        ("L4:0.5", "L4", 0.5, 1.0),
        ("T4:0.25@2", "T4", 0.25, 2.0),
        ("H200@10", "H200", 1, 10.0),
        (" L40S : 2 @ 1.5 ", "L40S", 2, 1.5),
        ("jetson-agx-orin", "Jetson-Orin", 1, 1.0),
    ],
)
def test_valid(text: str, name: str, count: float, speed: float) -> None:
    option = parse_accelerator(text)
    assert option == AcceleratorOption(name, count, speed)
    assert parse_accelerator(format_accelerator(option)) == option


@pytest.mark.parametrize(
    ("text", "message", "allowed"),
    [
        ("H100:x", "count 'x' is not a number", COUNT_ALLOWED),
        ("H100:-1", "count '-1' is not allowed", COUNT_ALLOWED),
        ("H100:0", "count '0' is not allowed", COUNT_ALLOWED),
        ("H100:1.5", "count '1.5' is not allowed", COUNT_ALLOWED),
        ("H100:", "count '' is not a number", COUNT_ALLOWED),
        ("H100:8@0", "speed '0' is out of range", SPEED_ALLOWED),
        ("H100:8@10.5", "speed '10.5' is out of range", SPEED_ALLOWED),
        ("H100:8@-1", "speed '-1' is out of range", SPEED_ALLOWED),
        ("H100:8@fast", "speed 'fast' is not a number", SPEED_ALLOWED),
        ("H100:8@nan", "speed 'nan' is not a number", SPEED_ALLOWED),
        ("H900:8", "unknown accelerator type 'H900'", None),
        (":8", "missing accelerator name", None),
        ("", "missing accelerator name", None),
    ],
)
def test_invalid(text: str, message: str, allowed: str | None) -> None:
    with pytest.raises(ShorthandError) as info:
        parse_accelerator(text)
    assert info.value.message == message
    assert info.value.given == text
    if allowed is not None:
        assert info.value.allowed == allowed
