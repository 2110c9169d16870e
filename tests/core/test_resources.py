from hypothesis import given
from hypothesis import strategies as st

from aiplane.core.resources import Resources

amounts = st.floats(min_value=0, max_value=1e4, allow_nan=False)
resources = st.builds(Resources, amounts, amounts, amounts)


@given(resources, resources)
def test_add_then_subtract_is_identity(a: Resources, b: Resources) -> None:
    back = (a + b) - b
    assert abs(back.gpus - a.gpus) < 1e-6 * (1 + b.gpus)
    assert abs(back.cpus - a.cpus) < 1e-6 * (1 + b.cpus)


@given(resources, resources)
def test_a_part_fits_in_the_whole(a: Resources, b: Resources) -> None:
    assert a.fits_in(a + b)
    assert (a + b - a).is_nonnegative()


@given(resources)
def test_more_than_capacity_does_not_fit(a: Resources) -> None:
    bigger = a + Resources(gpus=1)
    assert not bigger.fits_in(a)


def test_fractional_shares_add_up_to_a_gpu() -> None:
    total = Resources()
    for _ in range(10):
        total = total + Resources(gpus=0.1)
    assert total.fits_in(Resources(gpus=1))
    assert not (total + Resources(gpus=0.1)).fits_in(Resources(gpus=1))
