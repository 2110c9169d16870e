"""A typed client of the aiplane API (``/api/v1``): what the CLI uses, and what users import.

    from aiplane.client import Client

    with Client.from_environment() as client:
        for job in client.jobs.list(state=["running"]).items:
            print(job.id, job.placement.pool if job.placement else "-")

Responses are the models of :mod:`aiplane.wire`; every failure the server reports is an
:class:`ApiError` (its HTTP status and the error body), and a server that cannot be reached is
an :class:`UnreachableError`; a file that cannot be sent, or that arrives other than its
digest says, a :class:`TransferError`. A submission carries an idempotency key and is retried safely
(:class:`Retry`). :class:`RemoteControl` is the gateway's control port over this API (what
``aiplane gateway`` runs with). The client imports no server code (decision 0016).
"""

from aiplane.client._artifacts import TransferError
from aiplane.client._client import Client
from aiplane.client._errors import ApiError, TokenFileError
from aiplane.client._gateway import RemoteControl
from aiplane.client._http import Retry, retryable
from aiplane.client._jobs import Submission
from aiplane.discovery import UnreachableError

__all__ = [
    "ApiError",
    "Client",
    "RemoteControl",
    "Retry",
    "Submission",
    "TokenFileError",
    "TransferError",
    "UnreachableError",
    "retryable",
]
