"""GPU and host telemetry adapters: one protocol (``base.py``), members for NVML (``nvml.py``),
the host through psutil (``host.py``), recordings (``replay.py``) and tests (``fake.py``), and
the pure attribution of samples to runs (``attribution.py``)."""
