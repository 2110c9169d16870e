"""aiplane: the control plane for AI compute across cloud, on-premise and edge."""

__version__ = "0.1.0"
