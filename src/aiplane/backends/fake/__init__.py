"""The ``fake`` backend: in-memory and scripted, for unit tests of the layers above."""

from aiplane.backends.fake.backend import FakeBackend, FakeCluster, FakeReplica

__all__ = ["FakeBackend", "FakeCluster", "FakeReplica"]
