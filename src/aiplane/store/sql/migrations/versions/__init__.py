"""One module per schema revision. A package so that setuptools ships these files."""
