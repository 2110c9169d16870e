"""The API's wire format: pydantic models of every request and response body under /api/v1.

A leaf shared by the server (``aiplane.api``) and its client (``aiplane.client``): it imports
pydantic and the core's enums, nothing else, so the client stays cheap to import (decision 0016).
"""

API_PREFIX = "/api/v1"
