"""Scheduling: an immutable snapshot in, decisions out. A separate step applies them."""
