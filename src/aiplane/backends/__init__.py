"""Execution backends: where replicas actually run."""
