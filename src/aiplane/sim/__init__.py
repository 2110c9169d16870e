"""Trace-driven simulation: the real scheduling core on a virtual clock.

``traces`` reads traces, ``jobs`` turns them into workloads for a fleet, ``driver`` replays them
through a policy, ``metrics`` measures, ``report`` and ``plots`` show, ``plan`` and ``planner``
compare candidate fleets. Nothing here touches a store, a backend or the network.
"""
