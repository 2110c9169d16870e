"""The ``emulated`` backend: declared capacity elsewhere, run as local processes."""

from aiplane.backends.emulated.backend import EmulatedBackend

__all__ = ["EmulatedBackend"]
