"""What a run keeps and tells: the checkpoint, the rejects file, the counters and the report."""
