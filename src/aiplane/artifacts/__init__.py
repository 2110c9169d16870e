"""Content-addressed blob stores (a local folder, any fsspec URL, memory) and the transfers
over them: scan a directory into a manifest, upload what the store lacks, download and verify."""
