"""Use cases: load state through ports, call the core, persist, act."""
