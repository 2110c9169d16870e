"""A model version's flavour, told from its files when the author does not say."""

from __future__ import annotations

from pathlib import PurePosixPath

from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.records import Flavor

_HF_WEIGHTS = {"pytorch_model.bin", "model.safetensors", "tf_model.h5"}


def detect_flavor(manifest: Manifest) -> Flavor:
    """ONNX for an ``.onnx`` graph; a Hugging Face directory for ``config.json`` beside
    weights; PyTorch for a ``.pt``/``.pth`` state dict; scikit-learn for a pickled estimator
    (``.joblib``, ``.pkl``); else generic. The first rule that matches wins, in that order."""
    names = [PurePosixPath(e.path) for e in manifest.entries]
    suffixes = {n.suffix.lower() for n in names}
    basenames = {n.name for n in names}
    if ".onnx" in suffixes:
        return Flavor.ONNX
    if "config.json" in basenames and (
        basenames & _HF_WEIGHTS or any(n.name.endswith(".safetensors") for n in names)
    ):
        return Flavor.HUGGINGFACE
    if suffixes & {".pt", ".pth"}:
        return Flavor.PYTORCH
    if suffixes & {".joblib", ".pkl", ".pickle"}:
        return Flavor.SKLEARN
    return Flavor.GENERIC
