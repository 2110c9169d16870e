"""The ``local`` backend: this machine's processes and GPUs."""

from aiplane.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
