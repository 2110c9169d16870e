"""The inference gateway: the data path between callers and an endpoint's replicas.

An ASGI app (Starlette, kept lean: it is the hot path) over the control plane's
``GatewayControl`` port, a ``RateLimiter`` and an ``InferenceLog``. It authenticates, checks
access and limits, picks a replica with ``core.routing``, proxies, and reports what it saw.
"""

from aiplane.gateway.app import Gateway, create_gateway
from aiplane.gateway.settings import GatewaySettings

__all__ = ["Gateway", "GatewaySettings", "create_gateway"]
