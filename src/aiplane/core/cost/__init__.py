"""The cost engine's pure core: usage, metering, allocation, roll-ups, FOCUS rows, budgets,
anomalies and forecasts. Everything here takes data and time as arguments and returns values.

Submodules are imported by name (``aiplane.core.cost.metering``); this package imports none of
them. The budget and rule types themselves are in the leaf ``aiplane.core.budgets``.
"""
