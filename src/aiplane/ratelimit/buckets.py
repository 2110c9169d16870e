"""What every member checks of its arguments before it touches a bucket or a counter.

The gateway passes values from an endpoint's checked spec, so a bad one here is a bug in the
caller, not user input: a ValueError that says which argument and what is allowed.
"""

from __future__ import annotations

import math


def check_bucket(rate_per_s: float, burst: int) -> None:
    if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
        raise ValueError(f"rate_per_s must be a finite number > 0, not {rate_per_s!r}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, not {burst!r}")


def check_consume(amount: int, limit: int) -> None:
    if amount < 0:
        raise ValueError(f"amount must be >= 0 (0 reads the total), not {amount!r}")
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit!r}")
