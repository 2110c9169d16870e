"""The model and dataset registry over HTTP: blobs, manifests, versions, aliases, promotion,
policies, history, lineage."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

SHA256_PATTERN = r"^[0-9a-f]{64}$"
# The header of a file download that gives the file's sha256, to check it against.
SHA256_HEADER = "X-Aiplane-Sha256"


class FileEntry(BaseModel):
    path: str = Field(description="relative POSIX path inside the artifact")
    sha256: str = Field(pattern=SHA256_PATTERN, description="lower-case hex, no prefix")
    size: int = Field(ge=0)


class ManifestBody(BaseModel):
    files: list[FileEntry] = Field(max_length=100_000)


class ManifestOut(BaseModel):
    digest: str = Field(description="sha256:<hex> of the manifest's canonical form")
    size: int
    file_count: int
    files: list[FileEntry]


class MissingBody(BaseModel):
    digests: list[str] = Field(max_length=100_000, description="sha256 hex digests")


class MissingOut(BaseModel):
    missing: list[str] = Field(description="the digests the store lacks: upload these")


class UploadOut(BaseModel):
    sha256: str
    received: int = Field(description="bytes kept of this upload: resume from here")
    complete: bool = Field(description="the blob is stored, verified against its digest")


class SignatureOut(BaseModel):
    key_id: str
    algorithm: str
    signature: str
    signed_at: float


class RunLineageOut(BaseModel):
    job_id: str
    code_ref: str | None
    parameters: dict[str, str]
    image: str | None


class ModelVersionOut(BaseModel):
    model: str
    version: int
    artifact: str
    flavor: str
    created_at: float
    created_by: str
    signature: SignatureOut | None
    io_signature: dict[str, Any]
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    run: RunLineageOut | None
    inputs: list[str]
    description: str
    aliases: list[str] = Field(default_factory=list, description="the aliases that hold it")


class RegisterModelBody(BaseModel):
    team: str
    manifest: ManifestBody
    flavor: str | None = Field(
        None, description="sklearn, onnx, pytorch, huggingface or generic; null: from the files"
    )
    io_signature: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    from_run: str | None = Field(None, description="the job whose run made it: its lineage")
    inputs: list[str] = Field(
        default_factory=list, description="dataset references; default: the run's inputs"
    )


class UpdateVersionBody(BaseModel):
    tags: dict[str, str | None] = Field(
        default_factory=dict, description="a tag set to null is removed"
    )
    description: str | None = None


class AliasOut(BaseModel):
    name: str
    version: int
    moved_at: float
    moved_by: str


class ModelOut(BaseModel):
    name: str
    team: str
    created_at: float
    created_by: str
    description: str
    shared_with: list[str]
    aliases: list[AliasOut] = Field(default_factory=list)
    latest_version: int | None = None


class ModelList(BaseModel):
    items: list[ModelOut]


class VersionList(BaseModel):
    items: list[ModelVersionOut]
    next_cursor: int | None = Field(None, description="pass as `before` for the next page")


class VerifyOut(BaseModel):
    ok: bool
    ref: str
    artifact: str
    files: int
    bytes: int
    signature: str | None = Field(description="why the signature does not hold; null if it does")
    problems: list[dict[str, Any]] = Field(description="each file or rule that failed")


class ApproveBody(BaseModel):
    alias: str = Field(description="the alias the version is approved for, e.g. production")
    comment: str = ""


class ApprovalOut(BaseModel):
    model: str
    version: int
    alias: str
    by: str
    at: float
    comment: str


class MoveBody(BaseModel):
    ref: str = Field(description="the version: name@N, or name@alias for what it holds now")
    alias: str


class PromoteBody(BaseModel):
    moves: list[MoveBody] = Field(min_length=1, max_length=100)


class MoveOut(BaseModel):
    model: str
    alias: str
    version: int | None
    previous: int | None
    at: float
    by: str
    approvals: list[str]
    move_id: str


class MoveList(BaseModel):
    items: list[MoveOut]


class HoldingOut(BaseModel):
    """One period of an alias: ``version`` (null: removed) from ``since`` until ``until``
    (null: still in force), moved there by ``by`` with ``approvals``."""

    alias: str
    version: int | None
    since: float
    until: float | None
    by: str
    approvals: list[str]
    previous: int | None
    move_id: str


class HistoryOut(BaseModel):
    at: float | None = Field(description="the time asked about; null: the whole history")
    items: list[HoldingOut]


class PolicyBody(BaseModel):
    spec: dict[str, Any] = Field(description="the policy document, as in policy.yaml")
    source: str = Field("request body", description="file name to show in error messages")


class PolicyOut(BaseModel):
    scope: str | None = Field(description="model or team; null: the default policy")
    name: str | None
    revision: int | None
    updated_at: float | None
    updated_by: str | None
    document: dict[str, Any] | None
    protected: list[str] = Field(description="the aliases only promotion moves")


class ShareBody(BaseModel):
    teams: list[str] = Field(max_length=1000)


class LineageOut(BaseModel):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    dot: str = Field(description="the same graph in Graphviz DOT")


class ImportBody(BaseModel):
    mlflow_uri: str = Field(description="an MLflow tracking URI: http(s)://… or a folder")
    team: str = Field(description="the team that owns what is imported")


class ImportOut(BaseModel):
    models: list[str]
    versions: int
    aliases: int
    skipped: list[str] = Field(description="what was not imported, and why")


class TableOut(BaseModel):
    path: str
    columns: list[dict[str, str]]
    rows: int


class ReplicaOut(BaseModel):
    site: str
    uri: str
    added_at: float


class DatasetVersionOut(BaseModel):
    dataset: str
    version: int
    artifact: str
    size: int
    file_count: int
    created_at: float
    created_by: str
    jurisdiction: str | None
    tables: list[TableOut]
    replicas: list[ReplicaOut]


class DatasetOut(BaseModel):
    name: str
    team: str | None = Field(description="null: declared by the fleet")
    created_at: float
    created_by: str
    jurisdiction: str | None
    description: str
    latest_version: int | None = None


class DatasetList(BaseModel):
    items: list[DatasetOut]


class DatasetVersionList(BaseModel):
    items: list[DatasetVersionOut]
    next_cursor: int | None = None


class RegisterDatasetBody(BaseModel):
    team: str
    site: str = Field(description="where this copy of the bytes is")
    manifest: ManifestBody
    tables: list[TableOut] = Field(default_factory=list)
    jurisdiction: str | None = None
    description: str = ""
    uri: str | None = Field(None, description="where the bytes are; null: the artifact store")


class ReplicaBody(BaseModel):
    site: str
    uri: str


class UsedByOut(BaseModel):
    dataset: str
    items: list[ModelVersionOut]
