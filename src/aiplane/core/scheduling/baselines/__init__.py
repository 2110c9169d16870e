"""Baseline policies for comparisons, pure like the engine: FIFO, shortest job first (oracle),
Tiresias's 2D-LAS, and priority best fit (aiplane's first policy). Submodules are imported by
name; ``placer`` is the in-order placement machinery the first three share."""
