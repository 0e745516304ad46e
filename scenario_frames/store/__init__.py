"""The store layer: parquet snapshots on disk, their manifest, history, diff and incremental refresh."""
