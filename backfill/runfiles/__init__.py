"""A run's own files and counters: the checkpoint, the rejects file, the report, progress, the
lock, the archives of finished runs, and how each is written (0600, atomic, never through a
planted symlink). The nightly `--state` is `backfill.nightly`."""
