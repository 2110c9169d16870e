"""The model and dataset registry's pure core: references, manifests, records, promotion
rules, lineage and history."""
