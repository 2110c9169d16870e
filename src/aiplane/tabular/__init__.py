"""Tabular files read for their schema: Parquet and CSV through pyarrow (the ``parquet`` extra)."""
