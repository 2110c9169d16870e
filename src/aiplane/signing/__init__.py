"""Signing keys: the control plane's own (audit entries now, artifacts later)."""
