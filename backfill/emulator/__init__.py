"""A local Track API for rehearsals and tests: the HTTP app and its SQLite store."""

from backfill.emulator.app import Emulator, EmulatorThread, Faults, Store, serve

__all__ = ["Emulator", "EmulatorThread", "Faults", "Store", "serve"]
