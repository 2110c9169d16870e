"""File exporters: typed tables of columns to bytes (Parquet; a recording fake)."""
