"""Regenerate sample_data/ deterministically: `python tools/make_sample_data.py`.

People with their companies (CSV) and their events (NDJSON), realistic enough to rehearse a
migration, with a handful of deliberately bad rows (each marked in the comments below).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "sample_data"
FIRST = ["Ada", "Bruno", "Chloé", "Dmitri", "Eitan", "Fatima", "Grace", "Hiro", "Ines", "José",
         "Kwame", "Lena", "Mei", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Søren", "Tariq"]
LAST = ["Okafor", "Lindqvist", "Dubois", "Ivanova", "García", "Nakamura", "Smith", "O'Brien",
        "Müller", "Rossi", "Kowalski", "Haddad", "Chen", "Novak", "Silva", "Park"]
PLANS = ["free", "starter", "premium", "enterprise"]
ROLES = ["admin", "member", "billing", "viewer"]
COMPANIES = [(f"c{i:03d}", name) for i, name in enumerate(
    ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark, Inc.", "Wayne & Co", "Tyrell",
     "Cyberdyne", "Soylent", "Vandelay", "Pied Piper", "Wonka \"Sweets\"", "Monarch", "Oscorp"])]
EVENTS = ["signed_in", "viewed_page", "purchase", "invited_teammate", "exported_report"]


def people(rng: random.Random, n: int) -> list[list[str]]:
    start = datetime(2019, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        cid, cname = rng.choice(COMPANIES)
        signup = start + timedelta(seconds=rng.randrange(0, 5 * 365 * 86400))
        updated = signup + timedelta(days=rng.randrange(0, 400))
        zip_code = f"{rng.randrange(0, 99999):05d}"  # leading zeros must survive
        notes = rng.choice(["", "", "", "VIP, call before renewal", "line one\nline two"])
        rows.append([
            f"u{100000 + i}", f"{first}.{last}{i}@example.com".lower().replace("'", ""),
            first, last, rng.choice(PLANS), str(rng.randrange(1, 500)),
            signup.strftime("%Y-%m-%dT%H:%M:%SZ"), str(int(updated.timestamp())),
            rng.choice(["true", "false"]), zip_code, cid, cname, rng.choice(ROLES), notes,
        ])
    return rows


def write_people(rng: random.Random) -> None:
    import csv
    import io

    header = ["user_id", "email", "first_name", "last_name", "plan", "seats", "signup_date",
              "updated_at", "newsletter", "zip", "company_id", "company_name", "role", "notes"]
    rows = people(rng, 3000)
    rows[41][5] = "forty"  # bad: seats is not an int
    rows[97][6] = "2023-02-30T10:00:00Z"  # bad: impossible date
    rows[512][0] = ""  # bad: no identifier
    rows[1200][13] = "x" * 1500  # bad: attribute value over 1000 bytes
    rows[2048][0] = "u" + "9" * 160  # bad: identifier over 150 bytes
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for i, row in enumerate(rows):
        w.writerow(row)
        if i == 700:
            buf.write("u999999,broken@example.com,Too,Few\n")  # bad: too few fields
        if i == 1500:
            buf.write(",".join(["u999998"] + ["x"] * 15) + "\n")  # bad: too many fields
    (OUT / "people.csv").write_text(buf.getvalue(), encoding="utf-8")


def write_events(rng: random.Random) -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    lines = []
    for _i in range(5000):
        uid = f"u{100000 + rng.randrange(0, 3000)}"
        name = rng.choice(EVENTS)
        at = start + timedelta(seconds=rng.randrange(0, 365 * 86400))
        ev: dict = {"user_id": uid, "event": name, "occurred_at": at.isoformat()}
        if name == "purchase":
            ev["amount"] = round(rng.uniform(5, 500), 2)
            ev["currency"] = "EUR"
            ev["items"] = [{"sku": f"sku-{rng.randrange(100)}", "qty": rng.randrange(1, 4)}]
        elif name == "viewed_page":
            ev["url"] = f"https://example.com/docs/{rng.randrange(200)}"
        lines.append(json.dumps(ev, ensure_ascii=False))
    lines[100] = '{"user_id": "u100001", "event": "purchase", "occurred_at": '  # bad: broken JSON
    lines[2000] = '["u100002", "signed_in"]'  # bad: an array, not an object
    lines[3000] = json.dumps({"user_id": "u100003", "event": "x" * 120,
                              "occurred_at": "2023-05-01T00:00:00+00:00"})  # bad: name > 100 B
    lines[4000] = json.dumps({"user_id": "u100004", "event": "purchase",
                              "occurred_at": "yesterday"})  # bad: not a timestamp
    (OUT / "events.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_csv(name: str, header: list[str], rows: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    (OUT / name).write_text(buf.getvalue(), encoding="utf-8")


def write_small(rng: random.Random) -> None:
    """Devices, merges, segment members, form submissions and deliveries."""
    uid = [f"u{100000 + i}" for i in range(3000)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    devices = [[rng.choice(uid), f"tok-{i:06d}-{rng.randrange(16**8):08x}",
                rng.choice(["ios", "android"]),
                (start + timedelta(hours=rng.randrange(8000))).strftime("%Y-%m-%d %H:%M:%S"),
                rng.choice(["17.4", "14", "16.1"]), rng.choice(["3.2.0", "3.3.1"])]
               for i in range(400)]
    devices[17][2] = "windows"  # bad: not ios or android
    write_csv("devices.csv", ["user_id", "device_token", "platform", "last_seen", "os_version",
                              "app_version"], devices)
    merges = [[uid[i], f"legacy-{i}"] for i in range(0, 200, 2)]
    merges[5][1] = ""  # bad: no secondary
    write_csv("merges.csv", ["keep_id", "duplicate_id"], merges)
    members = [[rng.choice(uid), str(rng.choice([12, 12, 13]))] for _ in range(2500)]
    members.sort(key=lambda r: r[1])  # sorted by segment: fuller requests
    members[30][1] = "vip"  # bad: not a segment number
    write_csv("segment_members.csv", ["user_id", "segment"], members)
    forms = [[f"visitor{i}@example.com" if i % 5 else "", uid[i] if i % 5 == 0 else "",
              rng.choice(FIRST), rng.choice(["pricing", "demo", "newsletter"]),
              rng.choice(["yes", "no"])] for i in range(150)]
    forms[9] = ["", "", "Anon", "demo", "no"]  # bad: no id or email
    write_csv("form_submissions.csv", ["email", "user_id", "first_name", "form", "consent"], forms)
    deliveries = [[f"RPIyMTM6{i:08d}", rng.choice(["opened", "delivered", "converted"]),
                   f"tok-{rng.randrange(400):06d}", str(int((start + timedelta(
                       minutes=rng.randrange(100000))).timestamp()))] for i in range(600)]
    deliveries[3][1] = "clicked"  # bad: not a delivery metric
    deliveries[8][2] = ""  # bad: no device token
    write_csv("deliveries.csv", ["delivery_id", "metric", "device_token", "at"], deliveries)


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    write_people(random.Random(7))
    write_events(random.Random(11))
    write_small(random.Random(13))
    print(f"wrote sample data in {OUT}")
