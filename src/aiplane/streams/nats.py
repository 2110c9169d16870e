"""``NatsInferenceLog``: the inference log on NATS JetStream, for gateways on several machines
(the ``nats`` extra: ``pip install 'aiplane[nats]'``).

One stream (``AIPLANE_INFERENCE`` unless told) holds the subjects ``<subject>.<endpoint>``;
it is made on first use when missing (file storage, the server's default limits: operators
set retention on it as on any stream). A record is one JSON message; its position is its
stream sequence, so positions are shared by all endpoints and one endpoint's records have
gaps between them.

Appends are published in order, pipelined, and return once every one is acknowledged (stored
by the server). A read makes a short-lived pull consumer that starts at ``after + 1``, filtered
to the endpoint's subject when one is given, asks it how many records are waiting, fetches up
to ``limit`` of them and deletes it: a reader keeps its position, not the server.

Endpoint names may hold characters that mean something in a subject ('.', '*', '>'); the
subject's last token escapes every character outside ``[A-Za-z0-9_-]`` as ``%XX`` (the bytes
of its UTF-8), so each endpoint has exactly one subject of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiplane.core.errors import ConflictError, MissingDependencyError
from aiplane.core.serving.inference import InferenceRecord
from aiplane.streams.base import InferenceLog, Positioned
from aiplane.streams.records import decode, encode

INSTALL_HINT = "pip install 'aiplane[nats]'"
log = logging.getLogger("aiplane.streams.nats")
_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def subject_token(endpoint: str) -> str:
    """``endpoint`` as one subject token: itself when plain, else with ``%XX`` escapes."""
    return "".join(chr(b) if b in _PLAIN else f"%{b:02X}" for b in endpoint.encode())


class NatsInferenceLog:
    def __init__(
        self,
        url: str,
        stream: str = "AIPLANE_INFERENCE",
        subject: str = "aiplane.inference",
        timeout_s: float = 10.0,
    ) -> None:
        try:
            import nats  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                f"the inference log on NATS ({url}) needs nats-py: {INSTALL_HINT}"
            ) from exc
        self.url = url
        self.stream = stream
        self.subject = subject
        self.timeout_s = timeout_s  # for connecting, for acknowledgements, for each fetch
        self._connecting = asyncio.Lock()
        self._nc: Any = None
        self._js: Any = None

    def subject_of(self, endpoint: str) -> str:
        return f"{self.subject}.{subject_token(endpoint)}"

    async def append(self, records: Sequence[InferenceRecord]) -> None:
        if not records:
            return
        js = await self._jetstream()
        acks = [
            await js.publish_async(self.subject_of(r.endpoint), encode(r), stream=self.stream)
            for r in records
        ]
        await asyncio.wait_for(asyncio.gather(*acks), self.timeout_s)

    async def read(
        self, after: int = 0, limit: int = 1000, endpoint: str | None = None
    ) -> list[Positioned]:
        if limit <= 0:
            return []
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        js = await self._jetstream()
        subject = f"{self.subject}.>" if endpoint is None else self.subject_of(endpoint)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(after, 0) + 1,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            mem_storage=True,
            # Gone by itself if this reader dies before it deletes it.
            inactive_threshold=max(30.0, 3 * self.timeout_s),
        )
        sub = await js.pull_subscribe(subject, stream=self.stream, config=config)
        name: str | None = None
        try:
            info = await sub.consumer_info()
            name = info.name
            wanted = min(limit, int(info.num_pending))
            found: list[Positioned] = []
            while len(found) < wanted:
                batch = await sub.fetch(wanted - len(found), timeout=self.timeout_s)
                found.extend(Positioned(m.metadata.sequence.stream, decode(m.data)) for m in batch)
            return found[:wanted]
        finally:
            await sub.unsubscribe()
            if name is not None:
                await js.delete_consumer(self.stream, name)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None

    async def _jetstream(self) -> Any:
        async with self._connecting:
            if self._js is None:
                from nats.aio.client import Client
                from nats.errors import Error as NatsError

                nc = Client()
                try:
                    # nats-py retries a first connection for minutes (its reconnect budget):
                    # the gateway's writer should hear within the timeout, and try again.
                    await asyncio.wait_for(
                        nc.connect(
                            self.url,
                            connect_timeout=max(1, round(self.timeout_s)),
                            name="aiplane-inference-log",
                            error_cb=self._on_error,
                        ),
                        self.timeout_s,
                    )
                except (TimeoutError, OSError, NatsError) as exc:
                    await nc.close()
                    why = f": {type(exc).__name__}: {exc}" if str(exc) else ""
                    raise ConnectionError(
                        f"the inference log's NATS server at {self.url} did not answer within "
                        f"{self.timeout_s:g} s{why}"
                    ) from exc
                try:
                    js = nc.jetstream(timeout=self.timeout_s)
                    await self._ensure_stream(js)
                except BaseException:
                    await nc.close()
                    raise
                self._nc, self._js = nc, js
            return self._js

    async def _on_error(self, exc: Exception) -> None:
        # One line per failed attempt (nats-py's default logs a traceback for each).
        log.warning("inference log: NATS at %s: %s: %s", self.url, type(exc).__name__, exc)

    async def _ensure_stream(self, js: Any) -> None:
        from nats.js.errors import APIError, NotFoundError

        wanted = f"{self.subject}.>"
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            try:
                await js.add_stream(name=self.stream, subjects=[wanted])
                return
            except APIError:
                # Another gateway made it first: it is checked like any stream found.
                info = await js.stream_info(self.stream)
        subjects = list(info.config.subjects or [])
        if wanted not in subjects:
            raise ConflictError(
                f"NATS stream {self.stream} at {self.url} holds subjects {subjects}, not "
                f"{wanted!r}: the inference log's records would not be stored there; name "
                "another stream or subject, or add the subject to the stream"
            )


if TYPE_CHECKING:  # mypy proves conformance here, where a protocol change should break first
    _conforms: InferenceLog = NatsInferenceLog("nats://127.0.0.1:4222")
