"""`run --state`, the nightly job: send only what changed since the last night.

- `night.py`: `NightlyRun`, one night, from loading the state to writing it back;
- `keys.py`: an operation's key and hashes; `diff.py`: tonight against the state, in memory;
- `statefile.py`: the state file, its key texts and the journal of what was acknowledged;
- `relations.py`: the relationships delivered per key, and the removals of those gone;
- `workingcopy.py`: a state kept in object storage, worked on in a local copy.

A run's own files (checkpoint, rejects, report) are `backfill.runfiles`; docs/nightly.md tells
the feature to its users.
"""
