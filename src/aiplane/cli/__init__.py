"""The `aiplane` command line: a client of the API."""
