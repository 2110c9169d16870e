"""The one place that builds concrete adapters from settings and assembles the control plane."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

from aiplane import __version__
from aiplane.artifacts.base import BlobStore
from aiplane.backends.base import Backends
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.cost.budgets import effective_budgets
from aiplane.core.errors import Problem, SpecError, TelemetryError
from aiplane.core.fleet import Fleet
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.secrets_env import workload_environment
from aiplane.discovery import secure_home
from aiplane.exporters.base import Exporter
from aiplane.exporters.parquet import ParquetExporter
from aiplane.notify.base import Notifier
from aiplane.notify.webhook import WebhookNotifier
from aiplane.oidc.base import TokenVerifier
from aiplane.pricing.base import PriceBook
from aiplane.pricing.catalog import configured_catalog
from aiplane.registry_wiring import MlflowSources, RegistryParts
from aiplane.services.access import Access, Authenticator, OidcAuthenticator, TokenAuthenticator
from aiplane.services.artifacts import ArtifactService
from aiplane.services.audit import AuditLog
from aiplane.services.audit_service import AuditService
from aiplane.services.budgets import BudgetCache, endpoint_caps
from aiplane.services.container import Services
from aiplane.services.cost_service import CostService
from aiplane.services.datasets import placeable
from aiplane.services.endpoints import EndpointService
from aiplane.services.execution import Executor
from aiplane.services.fleet import FleetCache, FleetService
from aiplane.services.gateway import GatewayService
from aiplane.services.identity import IdentityService
from aiplane.services.imports import ImportService
from aiplane.services.jobs import JobService
from aiplane.services.lineage import LineageService
from aiplane.services.metrics import MetricsService
from aiplane.services.placements import PlacementService
from aiplane.services.policies import PolicyService
from aiplane.services.ports import FleetDocuments
from aiplane.services.promotion import PromotionService
from aiplane.services.scheduling import LiveState
from aiplane.services.system import SystemService
from aiplane.services.telemetry import TelemetryRecorder
from aiplane.services.workload_tokens import WorkloadTokens
from aiplane.signing.base import ManifestSigner, Signer
from aiplane.signing.ed25519 import Ed25519Signer
from aiplane.specs import fleet_from_document, fleet_to_document
from aiplane.store.base import Store
from aiplane.telemetry.base import TelemetrySource
from aiplane.workers.costs import INTERVAL_S as COST_INTERVAL_S
from aiplane.workers.costs import cost_step
from aiplane.workers.endpoints import INTERVAL_S as ENDPOINTS_INTERVAL_S
from aiplane.workers.endpoints import endpoints_step
from aiplane.workers.loop import Loop
from aiplane.workers.reconciler import reconciler_step
from aiplane.workers.scheduler import scheduler_step
from aiplane.workers.telemetry import telemetry_step


def open_store(url: str) -> Store:
    if url == "memory://":
        from aiplane.store.memory import MemoryStore

        return MemoryStore()
    from aiplane.store.sql import SqlStore

    return SqlStore.open(url)


@dataclass(frozen=True)
class SpecFleetDocuments:
    """The services' fleet-document port (``services.ports.FleetDocuments``) over
    ``aiplane.specs``."""

    price_book: PriceBook | None = None

    def read(self, document: Mapping[str, Any], source: str) -> Fleet:
        return fleet_from_document(document, source, self.price_book)

    def write(self, fleet: Fleet) -> dict[str, Any]:
        return fleet_to_document(fleet)


TELEMETRY_MODES = ("auto", "nvml", "off")
# The control plane's signing key, under its home (mode 0600).
SIGNING_KEY_FILE = "signing-key.pem"


def database_password(url: str) -> str | None:
    if url == "memory://":
        return None
    from aiplane.store.sql.engine import url_password

    return url_password(url)


def webhook_secrets(fleet: Fleet | None) -> tuple[frozenset[str], frozenset[str]]:
    """The names of the variables the fleet's budget webhooks read their secrets from, and the
    secrets written in the fleet itself."""
    if fleet is None:
        return frozenset(), frozenset()
    hooks = [b.webhook for b in effective_budgets(fleet) if b.webhook is not None]
    return (
        frozenset(w.secret_env for w in hooks if w.secret_env),
        frozenset(w.secret for w in hooks if w.secret),
    )


class WorkloadEnvironment:
    """The base environment of workloads: the control plane's, less its secrets.

    Filtered once, when the control plane is assembled, by name and by the database's
    password; filtered again, per fleet, by the webhook secrets the fleet in force names
    (they are read when an alert is delivered, so a fleet applied later may name others).
    """

    def __init__(
        self,
        environ: Mapping[str, str],
        database_url: str,
        fleet: Callable[[], Fleet | None],
    ) -> None:
        password = database_password(database_url)
        self._base = workload_environment(environ, secret_values=[password] if password else [])
        self._fleet = fleet
        self._seen: tuple[Fleet | None, dict[str, str]] = (None, self._base)

    def __call__(self) -> dict[str, str]:
        fleet = self._fleet()
        seen, env = self._seen
        if fleet is not seen:
            names, values = webhook_secrets(fleet)
            env = workload_environment(self._base, secret_names=names, secret_values=values)
            self._seen = (fleet, env)
        return dict(env)


def telemetry_source(settings: Settings) -> TelemetrySource | None:
    """A replayed recording when one is configured, else NVML when it works here (or when
    asked for by name, failing loudly), else none: a CPU-only machine is a normal case."""
    if settings.telemetry not in TELEMETRY_MODES:
        raise SpecError(
            "bad telemetry setting",
            [Problem("AIPLANE_TELEMETRY", "unknown mode", settings.telemetry, "auto, nvml, off")],
        )
    if settings.telemetry_replay is not None:
        from aiplane.telemetry.replay import ReplaySource

        return ReplaySource.from_file(settings.telemetry_replay)
    if settings.telemetry == "off":
        return None
    from aiplane.telemetry.nvml import NvmlSource

    try:
        return NvmlSource()
    except TelemetryError:
        if settings.telemetry == "nvml":
            raise
        return None


def telemetry_recorder(settings: Settings, store: Store, backends: Backends) -> TelemetryRecorder:
    from aiplane.telemetry.host import HostSource

    source = telemetry_source(settings)
    return TelemetryRecorder(
        source,
        store,
        backends,
        host=None if settings.telemetry == "off" else HostSource(),
        # A replay stands in for declared (emulated) GPUs as well as for real ones.
        emulated_samples=settings.telemetry_replay is not None,
    )


def oidc_verifier(settings: Settings) -> TokenVerifier | None:
    """The OIDC adapter when an issuer is configured (decision 0023); else None."""
    if settings.oidc_issuer is None:
        return None
    if not settings.oidc_audience:
        raise SpecError(
            "incomplete OIDC settings",
            [
                Problem(
                    "AIPLANE_OIDC_AUDIENCE",
                    "required with AIPLANE_OIDC_ISSUER",
                    None,
                    "the client id the provider puts in the tokens' aud claim",
                )
            ],
        )
    from aiplane.oidc.verifier import JwksVerifier

    return JwksVerifier(
        settings.oidc_issuer, settings.oidc_audience, settings.oidc_teams_claim or "groups"
    )


@dataclass
class ControlPlane:
    """Everything one control-plane process holds: store, adapters, loops, and the services
    the edges are given (``services``)."""

    settings: Settings
    store: Store
    backends: Backends
    policy: SchedulingPolicy
    clock: Callable[[], float] = time.time
    # Budget alerts go to webhooks; the cost loop's retries are the services' policy.
    notifier: Notifier = field(default_factory=WebhookNotifier)
    parquet: Exporter = field(default_factory=ParquetExporter)
    documents: FleetDocuments = field(default_factory=SpecFleetDocuments)
    # Given when the backends were built over it (``from_settings``); else built here.
    fleet_cache: InitVar[FleetCache | None] = None
    budgets: BudgetCache = field(default_factory=BudgetCache)
    # The control plane's key: it signs the audit log. None: the settings' key file
    # (AIPLANE_SIGNING_KEY, else the one under the home), trusting AIPLANE_TRUSTED_KEYS too.
    signer: Signer | None = None
    # The API's URL, known once the server has bound its socket: workloads are given it with
    # their own token. None (no server): workloads get neither.
    api_url: str | None = None
    # False: no audit log (what the authorisation benchmark compares against); never in service.
    audited: bool = True
    # The registry's blobs (None: ``blob_store(settings)``) and team signing keys (None: the
    # keyring under the home).
    blobs: BlobStore | None = None
    team_keys: ManifestSigner | None = None

    def __post_init__(self, fleet_cache: FleetCache | None) -> None:
        if self.signer is None:
            key = self.settings.signing_key or self.settings.home / SIGNING_KEY_FILE
            self.signer = Ed25519Signer.from_file(key, trusted_dir=self.settings.trusted_keys)
        self.audit = AuditLog(self.store, self.signer if self.audited else None, self.clock)
        tokens = TokenAuthenticator(self.store, self.clock)
        authenticators: list[Authenticator] = [tokens]
        oidc = oidc_verifier(self.settings)
        if oidc is not None:
            # Bound late: the identity service that signs callers in is built below.
            authenticators.append(
                OidcAuthenticator(oidc, lambda claims: self.services.identity.sign_in(claims))  # noqa: PLW0108
            )
        self.access = Access(self.audit, authenticators, on_change=tokens.forget)
        self.fleets = fleet_cache or FleetCache(
            self.store, self.documents, datasets=lambda: placeable(self.store)
        )
        identity = IdentityService(self.store, self.access, self.audit, self.clock)
        registry = RegistryParts.build(self)
        self.workload_tokens = WorkloadTokens(
            self.store, identity, self.audit, self.access.changed, lambda: self.api_url, self.clock
        )
        self.executor = Executor(
            self.store,
            self.backends,
            self.settings.home / "checkpoints",
            self.fleets.current,
            self.settings.cancel_grace_s,
            tokens=self.workload_tokens,
            staging=registry.staging.stage,
            outputs=registry.outputs,
            unstage=registry.staging.sweep,
        )
        self.telemetry = telemetry_recorder(self.settings, self.store, self.backends)
        self.scheduling_state = LiveState()
        self.scheduler = Loop(
            "scheduler",
            self.settings.scheduler_interval_s,
            lambda: scheduler_step(
                self.store,
                self.fleets,
                self.policy,
                self.executor,
                self.clock,
                inputs=self.services.costs.cycle_inputs,
                state=self.scheduling_state,
            ),
        )
        self.endpoints = EndpointService(
            self.store,
            self.fleets,
            self.backends,
            registry.models,
            self.clock,
            access=self.access,
            audit=self.audit,
            # The model server runs with this interpreter (where aiplane is installed).
            python=sys.executable,
            wake=self.scheduler.wake,
            # Bound late: the endpoint loop is built below.
            applied=lambda: self.endpoint_loop.wake(),  # noqa: PLW0108
            cancel_grace_s=self.settings.cancel_grace_s,
            # Budgets that act on endpoints: fewer replicas, owned and edge sites first.
            caps=endpoint_caps(self.store, self.fleets.current, self.clock, self.budgets),
        )
        self.services = Services(
            jobs=JobService(
                self.store,
                self.fleets,
                self.budgets,
                self.backends,
                self.clock,
                self.scheduler.wake,
                self.settings.cancel_grace_s,
                access=self.access,
                audit=self.audit,
                pin=registry.pins,
            ),
            placements=PlacementService(
                self.store,
                self.fleets,
                self.budgets,
                self.policy,
                self.clock,
                # Bound late, as the scheduler's: the cost service is built below.
                lambda: self.services.costs.cycle_inputs(),  # noqa: PLW0108
                access=self.access,
            ),
            fleet=FleetService(
                self.store,
                self.fleets,
                self.documents,
                self.backends,
                self.clock,
                self.scheduler.wake,
                access=self.access,
                audit=self.audit,
                declare=registry.datasets.declare,
            ),
            costs=CostService(
                self.store,
                self.fleets,
                self.budgets,
                self.telemetry,
                self.parquet,
                self.clock,
                access=self.access,
            ),
            identity=identity,
            access=self.access,
            audit=self.audit,
            audit_service=AuditService(self.audit, self.access),
            system=SystemService(__version__, os.getpid()),
            metrics=MetricsService(self.store, self.telemetry, self.clock, self.fleets.current),
            artifacts=ArtifactService(registry.blobs, access=self.access),
            models=registry.models,
            promotion=PromotionService(
                self.store,
                registry.models,
                registry.policies,
                self.clock,
                access=self.access,
                audit=self.audit,
            ),
            policies=PolicyService(
                self.store, registry.policies, self.clock, access=self.access, audit=self.audit
            ),
            datasets=registry.datasets,
            lineage=LineageService(self.store, registry.models, registry.datasets),
            imports=ImportService(
                self.store,
                registry.models,
                MlflowSources(),
                registry.files,
                self.clock,
                access=self.access,
                audit=self.audit,
            ),
            endpoints=self.endpoints,
            gateway=GatewayService(
                self.store, self.endpoints, self.fleets, self.access, self.audit, self.clock
            ),
        )
        self.endpoint_loop = Loop(
            "endpoints",
            ENDPOINTS_INTERVAL_S,
            lambda: endpoints_step(self.endpoints, self.clock),
        )
        self.reconciler = Loop(
            "reconciler",
            self.settings.reconciler_interval_s,
            lambda: reconciler_step(self.executor, self.clock),
        )
        self.telemetry_loop = Loop(
            "telemetry",
            self.settings.telemetry_interval_s,
            lambda: telemetry_step(self.telemetry, self.clock),
        )
        self.costs = Loop(
            "costs",
            COST_INTERVAL_S,
            lambda: cost_step(self.store, self.fleets, self.budgets, self.notifier, self.clock),
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        api_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        audited: bool = True,
    ) -> ControlPlane:
        """``environ`` (default: this process's) is what workloads inherit, less its secrets."""
        secure_home(settings.home)
        store = open_store(settings.database_url)
        documents = SpecFleetDocuments(configured_catalog(settings.catalog_dir))
        fleets = FleetCache(store, documents, datasets=lambda: placeable(store))
        environment = WorkloadEnvironment(
            os.environ if environ is None else environ, settings.database_url, fleets.current
        )
        return cls(
            settings=settings,
            store=store,
            # Every registered backend, built per pool from its ``backend_config`` as runs need it.
            backends=PoolBackends(settings.work_root, fleets.current, environment=environment),
            policy=Engine(),
            documents=documents,
            fleet_cache=fleets,
            api_url=api_url,
            audited=audited,
        )

    def start(self) -> dict[str, int]:
        recovered = self.executor.recover(self.clock())
        self.scheduler.start()
        self.reconciler.start()
        self.telemetry_loop.start()
        self.costs.start()
        self.endpoint_loop.start()
        return recovered

    def stop_loops(self) -> None:
        """Stop the scheduler, reconciler, telemetry, cost and endpoint loops; the store stays
        open."""
        self.endpoint_loop.stop()
        self.scheduler.stop()
        self.reconciler.stop()
        self.telemetry_loop.stop()
        self.costs.stop()

    def stop(self) -> None:
        self.stop_loops()
        self.telemetry.close()
        self.store.close()
