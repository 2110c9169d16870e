"""The pure core: domain types and decisions. No I/O, no clock, no environment."""
