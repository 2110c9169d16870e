"""The model access guard: which replicas serve a version the registry no longer vouches for.

Each time the gateway's routing table is built (about once a second), every replica that
serves a registry version gets a verdict (decision 0069): refused when the version's manifest
signature does not verify (the registry's own check, ``ModelService.check``: the stored
manifest against the version, its blobs present, the signature by the team's key over it), or
when the endpoint reaches it through an alias that was moved around the promotion policy
(``core.registry.integrity.alias_refusal``). A command endpoint has nothing to check.

Verdicts are cached: a signature's by the digest of the version's signature record (another
signature is another key), an alias's by the alias record it judged, each for ``recheck_s``
at most (so that a revoked key or an edited manifest row is seen within that time). Once a
version is checked, a table build reads the version row and the alias row and verifies
nothing. A change of verdict for an endpoint's version is recorded once, an audit entry and
an event together: not per request, not per build.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiplane.core.errors import NotFoundError, SpecError
from aiplane.core.events import Event
from aiplane.core.registry.integrity import alias_refusal, signature_digest, signature_refusal
from aiplane.core.registry.records import Alias
from aiplane.core.registry.refs import Ref, parse_ref
from aiplane.core.serving.endpoints import Endpoint, Role
from aiplane.services.audit import AuditLog
from aiplane.services.endpoint_replicas import COMMAND_VERSION, Replica
from aiplane.services.models import ModelService
from aiplane.store.base import Store

log = logging.getLogger("aiplane.endpoints")

ACTION = "endpoint.model_access"  # the audit action of a change of verdict
REFUSED = "endpoint.model.refused"  # the event kinds
SERVED = "endpoint.model.served"
RECHECK_S = 300.0


@dataclass(frozen=True)
class _Cached:
    reason: str | None
    expires: float  # monotonic seconds


@dataclass(frozen=True)
class _AliasCached:
    alias: Alias | None  # the record judged: another write to the alias is another verdict
    reason: str | None
    expires: float


class ModelAccessGuard:
    def __init__(
        self,
        store: Store,
        models: ModelService,
        audit: AuditLog,
        clock: Callable[[], float],
        *,
        recheck_s: float = RECHECK_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._models = models
        self._audit = audit
        self._clock = clock
        self._recheck_s = recheck_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._signatures: dict[str, _Cached] = {}  # signature_digest -> verdict
        self._aliases: dict[tuple[str, str, int], _AliasCached] = {}  # (model, alias, version)
        # (endpoint, role, version) -> the refusal last recorded; absent: served (or never
        # seen). By role too: one version may be the primary's through an alias (refused)
        # and the canary's by number (served), and neither verdict is a change of the other.
        self._refused: dict[tuple[str, Role, str], str] = {}
        # Serialises recording, so that a change is recorded once however many ask at once.
        self._record_lock = threading.Lock()

    def refusals(self, endpoint: Endpoint, replicas: Iterable[Replica]) -> dict[str, str]:
        """Run id -> why that replica may not serve, for the refused ones among ``replicas``
        (one verdict per role and version). Changes of verdict are recorded here."""
        spec = endpoint.spec
        if spec.command is not None:
            return {}
        verdicts: dict[tuple[Role, str], str | None] = {}
        out = {}
        for replica in replicas:
            key = (replica.role, replica.version)
            if key not in verdicts:
                verdicts[key] = self._verdict(endpoint, replica.role, key[1])
            reason = verdicts[key]
            if reason is not None:
                out[replica.run.id] = reason
        return out

    def _verdict(self, endpoint: Endpoint, role: Role, served: str) -> str | None:
        if served == COMMAND_VERSION:
            return None
        reference = _reference(endpoint, role)
        try:
            version_ref = parse_ref(served, "version")
        except SpecError:
            version_ref = Ref(served)
        if version_ref.version is None:
            reason: str | None = f"{served!r} names no version of the registry"
        else:
            reason = self._signature(version_ref.name, version_ref.version)
            if reason is None and reference is not None:
                reason = self._alias(reference, version_ref.version)
        self._note(endpoint, role, served, reason)
        return reason

    # -- the signature ------------------------------------------------------------------------

    def _signature(self, model: str, number: int) -> str | None:
        try:
            version = self._store.models.get_version(model, number)
        except NotFoundError:
            return f"{model}@{number} is not in the registry"
        key = signature_digest(version)
        now = self._monotonic()
        with self._lock:
            cached = self._signatures.get(key)
        if cached is not None and cached.expires > now:
            return cached.reason
        try:
            manifest = self._store.artifacts.get_manifest(version.artifact)
        except NotFoundError:
            problems = [f"manifest: {version.artifact} is not in the registry"]
        else:
            # The registry's check without re-reading every byte: a replica's own copy was
            # checked byte by byte when it was staged.
            check = self._models.check(version, manifest, rehash=False)
            problems = [p.render() for p in check.problems]
        reason = signature_refusal(version.ref, problems)
        with self._lock:
            self._signatures = {k: v for k, v in self._signatures.items() if v.expires > now}
            self._signatures[key] = _Cached(reason, now + self._recheck_s)
        return reason

    # -- the alias ----------------------------------------------------------------------------

    def _alias(self, reference: str, number: int) -> str | None:
        try:
            ref = parse_ref(reference, "model")
        except SpecError:
            return None  # the spec was checked when applied: not a reference to judge
        if ref.alias is None:
            return None  # a version by number, or the newest: the signature is all
        current = self._store.models.get_alias(ref.name, ref.alias)
        key = (ref.name, ref.alias, number)
        now = self._monotonic()
        with self._lock:
            cached = self._aliases.get(key)
        if cached is not None and cached.alias == current and cached.expires > now:
            return cached.reason
        moves = self._store.models.moves(ref.name, alias=ref.alias)
        reason = alias_refusal(ref.name, ref.alias, current, moves, number)
        with self._lock:
            self._aliases = {k: v for k, v in self._aliases.items() if v.expires > now}
            self._aliases[key] = _AliasCached(current, reason, now + self._recheck_s)
        return reason

    # -- recording ----------------------------------------------------------------------------

    def _note(self, endpoint: Endpoint, role: Role, served: str, reason: str | None) -> None:
        """Record a change of verdict (an audit entry and an event, in one unit of work)."""
        key = (endpoint.name, role, served)
        if self._refused.get(key) == reason:
            return
        with self._record_lock:
            before = self._refused.get(key)
            if before == reason:
                return
            try:
                self._record(endpoint, role, served, reason, before)
            except Exception:
                # The verdict stands (the table refuses the replica all the same); only its
                # record is missing, and it is tried again at the next build.
                log.exception(
                    "endpoint %s: the verdict on %s was not recorded", endpoint.name, served
                )
                return
            if reason is None:
                del self._refused[key]
            else:
                self._refused[key] = reason

    def _record(
        self, endpoint: Endpoint, role: Role, served: str, reason: str | None, before: str | None
    ) -> None:
        name = endpoint.name
        now = self._clock()
        if reason is not None:
            kind, outcome = REFUSED, "refused"
            message = f"endpoint {name}: the gateway refuses to serve {served}: {reason}"
        else:
            kind, outcome = SERVED, "ok"
            message = f"endpoint {name}: {served} is served again (it was refused: {before})"
        detail = {"version": served, "role": str(role), "reason": reason, "was": before}
        with self._store.unit_of_work() as uow:
            uow.events.add(Event(now, kind, message, data={"endpoint": name, **detail}))
            self._audit.record(
                uow,
                None,
                ACTION,
                f"endpoint/{name}",
                outcome=outcome,
                team=endpoint.team,
                detail=detail,
            )
        log.log(logging.WARNING if reason is not None else logging.INFO, "%s", message)


def _reference(endpoint: Endpoint, role: Role) -> str | None:
    """The registry reference the endpoint's spec names for ``role`` (``fraud@production``)."""
    spec = endpoint.spec
    if role is Role.CANARY:
        return spec.traffic.canary
    if role is Role.SHADOW:
        return spec.traffic.shadow
    return spec.model
