"""Resource vectors and their arithmetic.

A ``Resources`` value is what one node offers or one replica needs: GPUs (fractional shares
allowed), CPUs and memory. Arithmetic is exact enough for scheduling because GPU shares are
multiples of 1/100 in practice; comparisons use a small tolerance so that 0.1 * 10 fits 1.
"""

from __future__ import annotations

from dataclasses import dataclass

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Resources:
    gpus: float = 0.0
    cpus: float = 0.0
    memory_gib: float = 0.0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.gpus + other.gpus, self.cpus + other.cpus, self.memory_gib + other.memory_gib
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.gpus - other.gpus, self.cpus - other.cpus, self.memory_gib - other.memory_gib
        )

    def scaled(self, factor: float) -> Resources:
        return Resources(self.gpus * factor, self.cpus * factor, self.memory_gib * factor)

    def fits_in(self, capacity: Resources) -> bool:
        """True when every component of ``self`` is at most the same component of ``capacity``."""
        return (
            self.gpus <= capacity.gpus + _EPS
            and self.cpus <= capacity.cpus + _EPS
            and self.memory_gib <= capacity.memory_gib + _EPS
        )

    def is_nonnegative(self) -> bool:
        return self.gpus >= -_EPS and self.cpus >= -_EPS and self.memory_gib >= -_EPS


ZERO = Resources()
