"""What a run is given of the registry before it starts: its input dataset versions and the
model version it serves, copied where it runs and checked file by file.

A copy that is not the bytes registered (a flipped bit, a file swapped, added or removed)
fails the launch with the files named; so does a model version whose signature does not hold.
Each model version staged is recorded as a deployment of it (lineage: version ->
deployments). The run reads them from the folders the environment names:
``AIPLANE_INPUT_<NAME>`` per dataset (``AIPLANE_INPUTS_DIR`` above them all) and
``AIPLANE_MODEL_DIR``, with the model version's manifest in ``AIPLANE_MODEL_MANIFEST`` (beside
the folder, not in it), so that a model server checks the files again before it loads them.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aiplane.core.auth import Caller
from aiplane.core.errors import IntegrityError, NotFoundError, Problem, SpecError
from aiplane.core.registry.manifest import Manifest, differences
from aiplane.core.registry.records import DatasetVersion, Deployment
from aiplane.core.registry.refs import parse_ref
from aiplane.core.runs import Job, RunState
from aiplane.core.workloads import Workload
from aiplane.services.datasets import pinned, resolve_version
from aiplane.services.models import ModelService
from aiplane.services.registry_ports import ArtifactFiles
from aiplane.store.base import Store

INPUTS_ENV = "AIPLANE_INPUTS_DIR"
MODEL_ENV = "AIPLANE_MODEL_DIR"
MODEL_MANIFEST_ENV = "AIPLANE_MODEL_MANIFEST"
# The states of an attempt that may read its staged copies (admitted: being launched).
READING = (RunState.ADMITTED, RunState.STARTING, RunState.RUNNING)


def input_env(name: str) -> str:
    return "AIPLANE_INPUT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def output_problems(workload: Workload) -> list[Problem]:
    """Relative ``outputs:`` of a workload without a workdir: the run writes them under a
    folder of the backend's choosing, which the control plane cannot find when the run ends
    (it would look under its own working directory). Refused at submission, not failed
    after the run's work is done."""
    if workload.workdir is not None:
        return []
    return [
        Problem(
            f"outputs[{i}].path",
            "a relative path needs the workload's workdir",
            output.path,
            "an absolute path, or a workdir",
        )
        for i, output in enumerate(workload.outputs)
        if not Path(output.path).is_absolute()
    ]


def files_of(store: Store, text: str, location: str) -> tuple[DatasetVersion, Manifest] | None:
    """The version an input names and its files; None when aiplane holds none of them: a
    dataset the fleet declared (placement weighs it, the run reads it where it lies), or one
    the registry does not know (a job queued before its fleet registered it)."""
    try:
        version = resolve_version(store, parse_ref(text, location))
    except (NotFoundError, SpecError):
        return None
    if not version.artifact.startswith("sha256:"):
        return None
    try:
        return version, store.artifacts.get_manifest(version.artifact)
    except NotFoundError:
        return None  # a content hash the fleet gave, of files held elsewhere


def input_problems(store: Store, inputs: tuple[str, ...]) -> list[Problem]:
    """Pinned inputs with files that would be staged to the same folder and variable (two
    versions of one dataset, or names that differ only where a variable name cannot: ``a-b``
    and ``a_b``): the run could not tell them apart. The same version twice is one input."""
    problems = []
    seen: dict[str, tuple[int, str]] = {}
    for i, text in enumerate(inputs):
        if files_of(store, text, f"inputs[{i}]") is None:
            continue  # not staged: no folder, no variable
        variable = input_env(text.partition("@")[0])
        first, ref = seen.setdefault(variable, (i, text))
        if ref != text:
            problems.append(
                Problem(
                    f"inputs[{i}]",
                    f"staged to ${variable}, as inputs[{first}] ({ref}) is",
                    text,
                    "one version of each dataset, names that differ in letters or digits",
                )
            )
    return problems


class Pins:
    """At submission: each registered input as the dataset version it means now, and the
    model as the version it means now (the caller must be able to read it), so that a queued
    job runs what it was submitted with, whatever moves meanwhile."""

    def __init__(self, store: Store, models: ModelService) -> None:
        self._store = store
        self._models = models

    def __call__(self, caller: Caller, workload: Workload) -> Workload:
        inputs = pinned(self._store, workload.inputs)
        problems = output_problems(workload) + input_problems(self._store, inputs)
        if problems:
            raise SpecError(f"workload {workload.name!r} cannot be given its files", problems)
        model = workload.model
        if model is not None:
            model = self._models.resolve(caller, model).ref
        if (inputs, model) == (workload.inputs, workload.model):
            return workload
        return replace(workload, inputs=inputs, model=model)


class Staging:
    def __init__(
        self,
        store: Store,
        files: ArtifactFiles,
        models: ModelService,
        root: Path,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._files = files
        self._models = models
        self._root = root
        self._clock = clock

    def stage(self, job: Job) -> dict[str, str]:
        """Copy and check the job's registry inputs; the environment that names them.
        IntegrityError (the files named) when a copy is not what was registered."""
        env: dict[str, str] = {}
        inputs_dir = self._root / job.id / "inputs"
        for i, text in enumerate(job.workload.inputs):
            held = files_of(self._store, text, f"inputs[{i}]")
            if held is None:
                continue
            version, manifest = held
            dest = inputs_dir / version.dataset
            self._checked_copy(f"input {version.ref}", manifest, dest)
            env[input_env(version.dataset)] = str(dest)
            env[INPUTS_ENV] = str(inputs_dir)
        ref = job.workload.model
        if ref is not None:
            folder, listed = self._model(job, ref)
            env[MODEL_ENV] = str(folder)
            env[MODEL_MANIFEST_ENV] = str(listed)
        return env

    def sweep(self) -> int:
        """Remove the staged copies of jobs with no attempt that may read them now (ended,
        cancelled, or back in the queue: a later launch stages again); how many.

        The folders are listed before the runs are read: a folder staged meanwhile belongs to
        a run admitted by then, which the read finds still admitted or starting."""
        if not self._root.is_dir():
            return 0
        staged = [p for p in self._root.iterdir() if p.is_dir()]
        if not staged:
            return 0
        live = {r.job_id for r in self._store.jobs.runs_in_states(READING)}
        removed = 0
        for folder in staged:
            if folder.name not in live:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def _checked_copy(self, what: str, manifest: Manifest, dest: Path) -> None:
        """``dest`` holding exactly the files of ``manifest``: each checked as it arrives,
        and the folder as a whole after. Files a previous attempt kept are reused when they
        are still the registered bytes; files it added are removed (the folder is the control
        plane's copy, not the run's: a run that wrote into it must not fail its retries)."""
        _prune(dest, {e.path for e in manifest.entries})
        try:
            self._files.download(manifest, dest)
        except IntegrityError as exc:
            raise IntegrityError(f"{what}: {exc.message}", exc.problems) from exc
        found = differences(manifest, self._files.scan(dest))
        if found:
            raise IntegrityError(
                f"{what}: the copy is not the files registered",
                [Problem(d.path, str(d).removeprefix(f"{d.path}: ")) for d in found],
            )

    def _model(self, job: Job, ref: str) -> tuple[Path, Path]:
        version = self._models.version_of(parse_ref(ref, "model"))
        manifest = self._store.artifacts.get_manifest(version.artifact)
        check = self._models.check(version, manifest, rehash=False)
        if not check.ok:
            raise IntegrityError(f"model {version.ref} fails verification", list(check.problems))
        dest = self._root / job.id / "model"
        self._checked_copy(f"model {version.ref}", manifest, dest)
        target = f"job/{job.id}"
        # One deployment per job: a relaunch (a retry, or a launch redone after a crash) gives
        # the same version to the same job again.
        if all(
            d.target != target
            for d in self._store.models.deployments(version.model, version.version)
        ):
            deployment = Deployment(
                version.model, version.version, target, self._clock(), job.submitted_by, True
            )
            self._store.models.add_deployment(deployment)
        staged = {
            "model": version.model,
            "version": version.version,
            "flavor": str(version.flavor),
            "artifact": version.artifact,
            **manifest.to_dict(),
        }
        written = dest.with_name("model-manifest.json")
        written.write_text(json.dumps(staged))
        return dest, written


def _prune(dest: Path, keep: set[str]) -> None:
    """Remove every file under ``dest`` whose relative path is not in ``keep``, and every
    link (a copy holds none: a link put in place of a file would be read through)."""
    if not dest.is_dir():
        return
    for path in sorted(dest.rglob("*"), reverse=True):  # children before their folders
        if path.is_symlink() or (path.is_file() and path.relative_to(dest).as_posix() not in keep):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
