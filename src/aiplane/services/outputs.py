"""The folders a successful run registers as model versions (the workload's ``outputs:``),
each with the run's lineage recorded by the registry: its job, code, parameters and inputs.

Registered as the job's submitter (the version's author, who may not approve its
promotion). A run that ended but was not yet marked succeeded when the control plane stopped
is registered once: a version that this job registered already for that model is not made
again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aiplane.core.auth import Caller
from aiplane.core.errors import NotFoundError
from aiplane.core.registry.records import Flavor
from aiplane.core.runs import Job
from aiplane.services.models import ModelService
from aiplane.services.registry_ports import ArtifactFiles
from aiplane.services.registry_types import ModelRegistration
from aiplane.store.base import Store

JOB_TAG = "aiplane.job"


class OutputRegistrar:
    def __init__(
        self,
        store: Store,
        models: ModelService,
        files: ArtifactFiles,
        private: Sequence[Path] = (),
    ) -> None:
        self._store = store
        self._models = models
        self._files = files
        # Folders of the control plane's own (its home: keys, blobs, the database) that no
        # output may be read from: the control plane reads outputs as itself, and a
        # submitter must not get its files registered as a model version they can download.
        self._private = tuple(p.resolve() for p in private)

    def __call__(self, job: Job) -> str | None:
        """Register every output of ``job``; why one could not be, or None."""
        principal = self._store.principals.by_name(job.submitted_by)
        if principal is None:
            return f"outputs: the submitter {job.submitted_by!r} is gone"
        caller = Caller(principal, via="workload")
        workload = job.workload
        folders = []
        # Every folder found before any is registered: a run missing one output registers
        # none (it failed; its other outputs are not a version of anything).
        for i, output in enumerate(workload.outputs):
            folder = Path(output.path)
            if not folder.is_absolute() and workload.workdir is not None:
                folder = Path(workload.workdir) / folder
            if not folder.is_dir():
                return f"outputs[{i}]: {folder} is not a folder the run wrote"
            real = folder.resolve()  # through links: where the bytes would be read
            if any(real.is_relative_to(p) or p.is_relative_to(real) for p in self._private):
                return f"outputs[{i}]: {folder} is the control plane's own: not an output"
            folders.append(folder)
        for output, folder in zip(workload.outputs, folders, strict=True):
            if self._registered(output.model, job.id):
                continue
            manifest = self._files.upload_directory(folder)
            self._models.register(
                caller,
                ModelRegistration(
                    name=output.model,
                    team=workload.team,
                    manifest=manifest,
                    flavor=Flavor(output.flavor) if output.flavor else None,
                    tags={JOB_TAG: job.id},
                    from_run=job.id,
                ),
            )
        return None

    def _registered(self, model: str, job_id: str) -> bool:
        try:
            self._store.models.get(model)
        except NotFoundError:
            return False
        return any(v.tags.get(JOB_TAG) == job_id for v in self._models.all_versions(model))
