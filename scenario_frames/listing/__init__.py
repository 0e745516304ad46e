"""The listing layer: a ``GET /models`` query checked, paged, partitioned, checkpointed, reported."""
