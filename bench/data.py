"""Deterministic benchmark inputs: people CSV (10 columns) and events NDJSON."""

from __future__ import annotations

from pathlib import Path

import polars as pl

DATA = Path(__file__).resolve().parent / "data"

PEOPLE_MAPPING = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    timestamp: updated_at
    attributes:
      email: email
      name: name
      plan: plan
      seats: {column: seats, as: int}
      score: {column: score, as: float}
      created_at: {column: signup_at, as: timestamp}
      vip: {column: vip, as: bool}
      zip: zip
      notes: notes
"""
EVENTS_MAPPING = """\
version: 1
operations:
  - type: person
    action: event
    identifiers: {id: user_id}
    name: event
    timestamp: occurred_at
    attributes: {amount: amount, currency: currency, url: url}
"""
PEOPLE_COLUMNS = ["user_id", "email", "name", "plan", "seats", "score", "signup_at",
                  "updated_at", "vip", "zip", "notes"]


def people(rows: int) -> Path:
    """user_id, email, name, plan (some empty), seats, score, signup_at (ISO), updated_at
    (epoch), vip, zip (leading zeros), notes (mostly empty): 11 columns, 10 of data + the id."""
    path = DATA / f"people_{rows}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    i = pl.int_range(0, rows, dtype=pl.Int64, eager=True)
    h = i.hash(seed=7)
    names = pl.Series(["Ada", "Bruno", "Chloé", "Dmitri", "Eitan", "Fatima", "Grace", "Hiro"])
    df = pl.DataFrame({
        "user_id": "u" + i.cast(pl.String),
        "email": "user" + i.cast(pl.String) + "@example.com",
        "name": names.gather((h % 8).cast(pl.Int64)),
        "plan": pl.Series(["free", "pro", "enterprise", ""]).gather((h // 8 % 4).cast(pl.Int64)),
        "seats": (h // 32 % 500).cast(pl.String),
        "score": ((h // 16000 % 10000).cast(pl.Float64) / 100).cast(pl.String),
        "signup_at": pl.from_epoch(1_500_000_000 + (h // 7 % 200_000_000).cast(pl.Int64))
        .dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": (1_600_000_000 + (h // 11 % 100_000_000)).cast(pl.String),
        "vip": pl.Series(["true", "false"]).gather((h // 3 % 2).cast(pl.Int64)),
        "zip": (h // 13 % 99999).cast(pl.String).str.zfill(5),
        "notes": pl.Series(["", "", "", "call back", "VIP, renews in May"])
        .gather((h // 5 % 5).cast(pl.Int64)),
    })
    df.write_csv(path)
    return path


def events(rows: int) -> Path:
    path = DATA / f"events_{rows}.ndjson"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    i = pl.int_range(0, rows, dtype=pl.Int64, eager=True)
    h = i.hash(seed=11)
    df = pl.DataFrame({
        "user_id": "u" + (h % 1_000_000).cast(pl.String),
        "event": pl.Series(["signed_in", "viewed_page", "purchase"]).gather((h // 3 % 3)
                                                                          .cast(pl.Int64)),
        "occurred_at": pl.from_epoch(1_700_000_000 + (h // 9 % 30_000_000).cast(pl.Int64))
        .dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "amount": (h // 17 % 50000).cast(pl.Float64) / 100,
        "currency": pl.Series(["EUR", "USD"]).gather((h // 5 % 2).cast(pl.Int64)),
        "url": "https://example.com/p/" + (h // 23 % 1000).cast(pl.String),
    })
    df.write_ndjson(path)
    return path


def forms(rows: int) -> tuple[Path, str]:
    """Form submissions: one request each, for the rate test."""
    path = DATA / f"forms_{rows}.csv"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        i = pl.int_range(0, rows, eager=True)
        pl.DataFrame({"email": "v" + i.cast(pl.String) + "@example.com",
                      "topic": ["pricing"] * rows}).write_csv(path)
    mapping = ("version: 1\noperations:\n  - {type: form, action: submit, form_id: {value: "
               "contact}, data: {email: email, topic: topic}}\n")
    return path, mapping
