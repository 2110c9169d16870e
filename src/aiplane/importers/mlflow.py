"""An MLflow model registry as an import source: a tracking server or a file store folder.

Read through MLflow's own client (``mlflow.MlflowClient``), so every backend MLflow reads
(``http(s)://`` servers, ``file:`` folders, ``sqlite:``/``postgresql:`` databases) is read the
way MLflow reads it. MLflow is imported when a source is made, not with this module: it is an
optional dependency (``pip install mlflow``). Decision 0046.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import httpx
import yaml

from aiplane.core.errors import (
    AiplaneError,
    BackendError,
    MissingDependencyError,
    NotFoundError,
    Problem,
    SpecError,
)
from aiplane.core.registry.imports import (
    ImportedModel,
    ImportedVersion,
    flavor_from_mlflow,
    io_signature,
    local_name,
    merge_aliases,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

LOCATION = "from_mlflow"
ALLOWED = "an MLflow tracking server (http(s)://host:port) or an MLflow file store folder"
PAGE_SIZE = 100
# MLflow 3 refuses to open a file store unless this is set; an import only reads one, which
# is what MLflow's own migration tool does too.
_ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
_env_lock = threading.RLock()


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise MissingDependencyError(
            "importing from MLflow needs the mlflow package: pip install mlflow"
        ) from None
    return mlflow


def tracking_uri_of(given: str) -> str:
    """``given`` as MLflow reads it: a plain folder path becomes a ``file:`` URI."""
    scheme = urlparse(given).scheme
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        return Path(given).expanduser().resolve().as_uri()
    return given


def _folder_of(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


class MlflowSource:
    """Every registered model of the MLflow registry at ``tracking_uri`` (the tracking
    server's own registry, as MLflow has it by default)."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        page_size: int = PAGE_SIZE,
        timeout_s: float = 10.0,
    ) -> None:
        self._mlflow = _mlflow()
        self._uri = tracking_uri_of(tracking_uri)
        self._page_size = page_size
        # A folder: every call needs MLflow's file store switches (_file_store_calls).
        self._file_store = _folder_of(self._uri) is not None
        _check_reachable(self._uri, timeout_s)
        with self._errors():
            self._client: MlflowClient = self._mlflow.MlflowClient(
                tracking_uri=self._uri, registry_uri=self._uri
            )

    @property
    def uri(self) -> str:
        return self._uri

    def models(self) -> Iterator[ImportedModel]:
        token: str | None = None
        while True:
            with self._errors():
                page = self._client.search_registered_models(
                    max_results=self._page_size, page_token=token
                )
            for listed in page:
                yield self._model(listed.name)
            token = page.token
            if not token:
                return

    def fetch(self, model: ImportedModel, version: ImportedVersion, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        with self._errors(f"{model.source_name} version {version.source_version}"):
            # MLflow streams each file to disk in chunks (its artifact repositories' download).
            written = self._mlflow.artifacts.download_artifacts(
                artifact_uri=version.source_uri,
                dst_path=str(dest),
                tracking_uri=self._uri,
                registry_uri=self._uri,
            )
        return Path(written)

    def _model(self, name: str) -> ImportedModel:
        with self._errors(name):
            # The model itself, not the search's copy: a search may leave aliases out.
            registered = self._client.get_registered_model(name)
        listed = self._versions(registered)
        versions = tuple(self._version(mv) for mv in listed)
        aliases = {alias: int(number) for alias, number in (registered.aliases or {}).items()}
        stages = {int(mv.version): mv.current_stage for mv in listed}
        return ImportedModel(
            name=local_name(name, f"{LOCATION}.models.{name}"),
            source_name=name,
            description=registered.description or "",
            tags=dict(registered.tags or {}),
            versions=versions,
            aliases=merge_aliases(aliases, stages, f"{LOCATION}.models.{name}.aliases"),
        )

    def _versions(self, registered: RegisteredModel) -> list[ModelVersion]:
        found: list[ModelVersion] = []
        token: str | None = None
        while True:
            with self._errors(registered.name):
                page = self._client.search_model_versions(
                    filter_string=f"name = {_quoted(registered.name)}",
                    max_results=self._page_size,
                    page_token=token,
                )
            found.extend(page)
            token = page.token
            if not token:
                break
        return sorted(found, key=lambda mv: int(mv.version))

    def _version(self, mv: ModelVersion) -> ImportedVersion:
        where = f"{mv.name} version {mv.version}"
        metrics: dict[str, float] = {}
        params: dict[str, str] = {}
        with self._errors(where):
            uri = self._client.get_model_version_download_uri(mv.name, str(mv.version))
            if mv.run_id:
                data = self._run_data(mv.run_id)
                if data is not None:
                    metrics, params = data
            if not metrics and mv.metrics:  # MLflow 3 keeps a logged model's own metrics too
                metrics = {m.key: float(m.value) for m in mv.metrics}
            if not params and mv.params:
                params = _params(mv.params)
            mlmodel = self._mlmodel(uri)
        return ImportedVersion(
            source_version=int(mv.version),
            run_id=mv.run_id or None,
            flavor=flavor_from_mlflow(mlmodel.get("flavors") or {}),
            metrics=metrics,
            params=params,
            tags=dict(mv.tags or {}),
            description=mv.description or "",
            created_at=(mv.creation_timestamp or 0) / 1000.0,
            io_signature=io_signature(mlmodel.get("signature")),
            source_uri=uri,
        )

    def _run_data(self, run_id: str) -> tuple[dict[str, float], dict[str, str]] | None:
        """The run's metrics (MLflow keeps the latest value of each as the run's) and
        parameters; None when the run is gone (deleted, or in another tracking server)."""
        exceptions = self._mlflow.exceptions
        try:
            run = self._client.get_run(run_id)
        except exceptions.MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return dict(run.data.metrics), dict(run.data.params)

    def _mlmodel(self, uri: str) -> dict[str, Any]:
        """The version's MLmodel file, read; empty when it has none (files registered from a
        bare run folder): such a version is generic, without a signature. Whether it has one
        is asked by listing, so that a failed read is an error, not a generic version."""
        artifacts = self._mlflow.artifacts
        listed = artifacts.list_artifacts(artifact_uri=uri, tracking_uri=self._uri)
        if not any(entry.path.rsplit("/", 1)[-1] == "MLmodel" for entry in listed or ()):
            return {}
        with tempfile.TemporaryDirectory(prefix="aiplane-mlmodel-") as tmp:
            path = artifacts.download_artifacts(
                artifact_uri=f"{uri.rstrip('/')}/MLmodel",
                dst_path=tmp,
                tracking_uri=self._uri,
                registry_uri=self._uri,
            )
            try:
                loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            except yaml.YAMLError as error:
                raise SpecError(
                    "the version's MLmodel file is not YAML",
                    [Problem(f"{LOCATION}: {uri}/MLmodel", str(error), self._uri, "YAML")],
                ) from None
        return loaded if isinstance(loaded, dict) else {}

    @contextmanager
    def _errors(self, what: str | None = None) -> Iterator[None]:
        """MLflow's and the network's errors as ours, located at the source's URI."""
        requests_error = _requests_error()
        try:
            with _file_store_calls(self._file_store, self._uri):
                yield
        except AiplaneError:
            raise
        except self._mlflow.exceptions.MlflowException as error:
            code = getattr(error, "error_code", "")
            said = f"{what}: {error.message}" if what else str(error.message)
            problem = Problem(LOCATION, said, self._uri, None)
            if code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFoundError("not found in the MLflow registry", [problem]) from error
            raise BackendError("the MLflow registry refused a read", [problem]) from error
        except (requests_error, OSError) as error:
            said = f"{what}: {error}" if what else str(error)
            raise BackendError(
                "cannot read the MLflow registry", [Problem(LOCATION, said, self._uri, ALLOWED)]
            ) from error


def _params(given: Any) -> dict[str, str]:
    """A logged model's parameters: a mapping, or (as MLflow types them) key-value entries."""
    if isinstance(given, Mapping):
        return {str(key): str(value) for key, value in given.items()}
    return {str(entry.key): str(entry.value) for entry in given}


def _requests_error() -> type[Exception]:
    import requests  # MLflow's own HTTP client, installed with it

    return requests.exceptions.RequestException


def _quoted(name: str) -> str:
    """``name`` as a string in an MLflow search filter."""
    if "'" not in name:
        return f"'{name}'"
    if '"' not in name:
        return f'"{name}"'
    raise SpecError(
        "MLflow cannot search for this model's versions",
        [Problem(f"{LOCATION}.models", "a name with both quote marks", repr(name), None)],
    )


def _check_reachable(uri: str, timeout_s: float) -> None:
    """A located error now, rather than after MLflow's minutes of retries, when a server does
    not answer or a folder is not there. Any answer from a server will do (a proxy may refuse
    ``/health``): only a failed connection is unreachable."""
    folder = _folder_of(uri)
    if folder is not None:
        if not folder.is_dir():
            raise NotFoundError(
                "no MLflow file store there",
                [Problem(LOCATION, "no such folder", uri, ALLOWED)],
            )
        return
    if urlparse(uri).scheme not in ("http", "https"):
        return  # a database URI: MLflow connects, and _errors locates what fails
    try:
        httpx.get(f"{uri.rstrip('/')}/health", timeout=timeout_s)
    except httpx.TransportError as error:
        raise BackendError(
            "cannot reach the MLflow tracking server",
            [Problem(LOCATION, f"no answer: {error}", uri, ALLOWED)],
        ) from error


@contextmanager
def _file_store_calls(needed: bool, tracking_uri: str) -> Iterator[None]:
    """Around each call on a file store: MLflow 3 opens a store on every call and refuses a
    file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set; and its file registry reads each
    version's logged model (kept by the tracking store) through the *global* tracking URI
    (its own TODO in ``_get_file_model_version_from_dir``), which would otherwise read, and
    create, MLflow's default store (``./mlflow.db``, ``./mlruns``) in the server's folder.
    Both are process-wide: set under a lock and put back after."""
    if not needed:
        yield
        return
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _env_lock:
        before = os.environ.get(_ALLOW_FILE_STORE)
        os.environ[_ALLOW_FILE_STORE] = "true"
        try:
            with _use_tracking_uri(tracking_uri):
                yield
        finally:
            if before is None:
                os.environ.pop(_ALLOW_FILE_STORE, None)
            else:
                os.environ[_ALLOW_FILE_STORE] = before
