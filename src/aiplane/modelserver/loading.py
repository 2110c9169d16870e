"""A model folder to a served model: its flavour told from its files (the registry's rule),
the one file of that flavour loaded."""

from __future__ import annotations

import importlib
from pathlib import Path

from aiplane.core.errors import MissingDependencyError, Problem, SpecError
from aiplane.core.registry.flavors import detect_flavor
from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.registry.records import Flavor
from aiplane.modelserver.model import ServedModel

SERVED = (Flavor.SKLEARN, Flavor.ONNX)
_SUFFIXES = {Flavor.SKLEARN: (".joblib", ".pkl", ".pickle"), Flavor.ONNX: (".onnx",)}
_NO_DIGEST = "0" * 64  # detect_flavor reads names only


def flavor_of(folder: Path) -> Flavor:
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return detect_flavor(Manifest.of(ManifestEntry(f, _NO_DIGEST, 0) for f in files))


def model_file(folder: Path, flavor: Flavor) -> Path:
    """The one file of ``flavor`` in ``folder``: the only one, or the one named ``model``."""
    found = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES[flavor]
    )
    if len(found) > 1:
        found = [p for p in found if p.stem == "model"]
    if len(found) != 1:
        raise SpecError(
            f"cannot tell which file of {folder} is the {flavor} model",
            [
                Problem(
                    "--model-dir",
                    f"{len(found)} candidate files",
                    str(folder),
                    f"one {'/'.join(_SUFFIXES[flavor])} file, or one named model.*",
                )
            ],
        )
    return found[0]


def load(folder: Path, flavor: Flavor | None = None) -> ServedModel:
    """The model in ``folder`` (already verified: loading a pickle runs its code)."""
    flavor = flavor or flavor_of(folder)
    if flavor not in SERVED:
        raise SpecError(
            f"the model in {folder} is not one this server serves",
            [Problem("flavor", "not served", str(flavor), ", ".join(SERVED))],
        )
    path = model_file(folder, flavor)
    if flavor is Flavor.ONNX:
        from aiplane.modelserver.onnx_flavor import OnnxModel

        return OnnxModel(path)
    from aiplane.modelserver.sklearn_flavor import SklearnModel

    return SklearnModel(_unpickle(path))


def _unpickle(path: Path) -> object:
    try:
        importlib.import_module("sklearn")
        joblib = importlib.import_module("joblib")
    except ImportError as exc:
        raise MissingDependencyError(
            "serving a scikit-learn model needs scikit-learn: pip install 'aiplane[serve]'"
        ) from exc
    return joblib.load(path)  # joblib reads plain pickles too
