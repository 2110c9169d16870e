"""Importers: other model registries read into ``core.registry.imports`` records (MLflow)."""
