"""`python -m backfill`: the same program as the `backfill` command."""

from backfill.cli import main

main()
