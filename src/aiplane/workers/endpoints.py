"""The endpoint loop: keep every endpoint's replicas as its spec and its load ask."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiplane.services.endpoints import EndpointService

INTERVAL_S = 2.0


def endpoints_step(service: EndpointService, clock: Callable[[], float] = time.time) -> None:
    service.reconcile(clock())
