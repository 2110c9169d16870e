"""Lineage, both ways: dataset versions -> run -> model version -> deployments, and from a
dataset version down to the models trained on it (``datasets used-by``)."""

from __future__ import annotations

from aiplane.core.auth import Caller
from aiplane.core.errors import NotFoundError
from aiplane.core.registry.lineage import LineageGraph, dataset_lineage, model_lineage
from aiplane.core.registry.records import Alias, DatasetVersion, Deployment, ModelVersion
from aiplane.services.datasets import DatasetService
from aiplane.services.models import ModelService
from aiplane.store.base import Store


class LineageService:
    def __init__(self, store: Store, models: ModelService, datasets: DatasetService) -> None:
        self._store = store
        self._models = models
        self._datasets = datasets

    def of_model(self, caller: Caller, ref: str) -> LineageGraph:
        version = self._models.resolve(caller, ref)
        inputs: list[DatasetVersion] = []
        for text in version.inputs:
            name, _, number = text.partition("@")
            try:
                inputs.append(self._store.datasets.get_version(name, int(number)))
            except (NotFoundError, ValueError):
                continue  # shown as unknown by the graph
        return model_lineage(
            version,
            inputs,
            self._store.models.deployments(version.model, version.version),
            self._store.models.aliases(version.model),
        )

    def of_dataset(self, caller: Caller, ref: str) -> LineageGraph:
        dataset = self._datasets.resolve(caller, ref)
        versions = self._datasets.used_by(caller, dataset.ref)
        deployments: list[Deployment] = []
        aliases: list[Alias] = []
        for model in sorted({v.model for v in versions}):
            deployments += self._store.models.deployments(model)
            aliases += self._store.models.aliases(model)
        return dataset_lineage(dataset, versions, deployments, aliases)

    def used_by(
        self, caller: Caller, ref: str, alias: str | None = None
    ) -> list[tuple[ModelVersion, tuple[str, ...]]]:
        """The model versions trained on the dataset version, each with the aliases that hold
        it now; with ``alias`` (``production``), only those that alias holds."""
        out = []
        for version in self._datasets.used_by(caller, ref):
            held = tuple(
                a.name
                for a in self._store.models.aliases(version.model)
                if a.version == version.version
            )
            if alias is None or alias in held:
                out.append((version, held))
        return out
