import pytest

from aiplane.core.workloads import AcceleratorOption
from aiplane.specs.shorthand import ShorthandError, format_accelerator, parse_accelerator


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("A100-80GB:1g.10gb", AcceleratorOption("A100-80GB", 1 / 7, 1.0, "1g.10gb")),
        ("h100:3G.40GB@0.5", AcceleratorOption("H100-80GB", 3 / 7, 0.5, "3g.40gb")),
        ("H200:7g.141gb", AcceleratorOption("H200", 1.0, 1.0, "7g.141gb")),
    ],
)
def test_mig_profiles_are_shares_of_one_gpu(text: str, option: AcceleratorOption) -> None:
    parsed = parse_accelerator(text)
    assert parsed == option
    assert parse_accelerator(format_accelerator(parsed)) == parsed


def test_mig_needs_a_mig_capable_gpu() -> None:
    with pytest.raises(ShorthandError) as err:
        parse_accelerator("L4:1g.10gb")
    assert err.value.message == "L4 has no MIG slices"
    assert "1g.10gb" in err.value.allowed
