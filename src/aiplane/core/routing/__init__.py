"""Routing, pure: which site and replica answer a request (latency SLO, cost, in-flight load),
circuit breakers, the retry budget, and the split between primary, canary and shadow."""

from aiplane.core.routing.breaker import BreakerState
from aiplane.core.routing.replicas import ReplicaState
from aiplane.core.routing.router import Pick, Router
from aiplane.core.routing.split import shadowed, split

__all__ = ["BreakerState", "Pick", "ReplicaState", "Router", "shadowed", "split"]
