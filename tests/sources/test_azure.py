"""Inputs, checkpoint and state in Azure Blob Storage (`az://`), against Azurite, Microsoft's
Azure Storage emulator (from npm; `make test` installs it when npm is present): the same bytes
as from local disk, a resume refused against a replaced blob, a nightly state in a container."""

from __future__ import annotations

import polars as pl
import pytest
from helpers import ROOT, free_port, started
from helpers.emulated import KEY, SITE

import backfill
from backfill.errors import UsageError

AZURITE = ROOT / "tests" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
CONTAINER = "exports"
# Azurite's well-known development account (public, in Microsoft's documentation)
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBe"
               "ksoGMGw==")
pytestmark = pytest.mark.skipif(not AZURITE.exists(), reason="Azurite is not installed "
                                "(npm install --prefix tests/azurite)")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    port = free_port()
    proc = started([str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                    "--location", str(tmp_path_factory.mktemp("azurite")), "--silent",
                    "--disableTelemetry", "--skipApiVersionCheck"], port)
    yield f"http://127.0.0.1:{port}/{ACCOUNT}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def container(azurite, monkeypatch):
    """A client of the container, with the standard Azure environment pointing at Azurite."""
    from azure.storage.blob import BlobServiceClient

    for name, value in (("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT),
                        ("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY),
                        ("AZURE_STORAGE_ENDPOINT", azurite)):
        monkeypatch.setenv(name, value)
    service = BlobServiceClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={azurite};")
    client = service.get_container_client(CONTAINER)
    if not client.exists():
        client.create_container()
    return client


def dump(tmp_path, mapping, source, name):
    bodies, rejects = tmp_path / f"{name}.bodies", tmp_path / f"{name}.rejects"
    report = backfill.validate(mapping, source, rejects, bodies)
    return report, bodies.read_bytes(), rejects.read_text() if rejects.exists() else ""


def test_a_blob_gives_the_bytes_and_rejects_of_the_same_file_on_disk(container, tmp_path):
    local = ROOT / "sample_data" / "people.csv"
    container.upload_blob("exports/people.csv", local.read_bytes(), overwrite=True)
    url = f"az://{CONTAINER}/exports/people.csv"
    mapping = ROOT / "configs" / "people.yaml"
    here = dump(tmp_path, mapping, str(local), "local")
    there = dump(tmp_path, mapping, url, "az")
    assert there[1] == here[1] and len(here[1]) > 100_000
    assert there[2] == here[2].replace(str(local), url) and '"line":' in there[2]


def test_a_glob_and_parquet_read_from_the_container(container, tmp_path):
    frame = pl.DataFrame({"user_id": [f"u{i}" for i in range(3000)],
                          "email": [f"u{i}@example.com" for i in range(3000)]})
    for i in range(3):
        part = frame.slice(i * 1000, 1000)
        container.upload_blob(f"daily/part-{i}.csv", part.write_csv().encode(), overwrite=True)
    local = tmp_path / "people.parquet"
    frame.write_parquet(local)
    container.upload_blob("pq/people.parquet", local.read_bytes(), overwrite=True)
    mapping = {"version": 1, "operations": [{"type": "person", "action": "identify",
                                             "identifiers": {"id": "user_id"},
                                             "attributes": {"email": "email"}}]}
    here = dump(tmp_path, mapping, str(local), "local")
    parts = dump(tmp_path, mapping, f"az://{CONTAINER}/daily/part-*.csv", "glob")
    parquet = dump(tmp_path, mapping, f"az://{CONTAINER}/pq/people.parquet", "pq")
    assert parts[1] == here[1] == parquet[1] and parts[0].rows_read == 3000


def test_a_nightly_state_and_checkpoint_in_the_container(container, tmp_path, emulator):
    rows = [{"user_id": f"u{i}", "plan": "free"} for i in range(500)]
    mapping = {"version": 1, "operations": [{"type": "person", "action": "identify",
                                             "identifiers": {"id": "user_id"},
                                             "attributes": {"plan": "plan"}}]}
    where = f"az://{CONTAINER}/nightly"
    emu, store = emulator, emulator.emulator.store
    def night(data):
        return backfill.run(mapping, pl.DataFrame(data), site_id=SITE, api_key=KEY, endpoint=emu.url,
                            state=f"{where}/people.state",
                            checkpoint=f"{where}/people.checkpoint.json")
    first = night(rows)
    rows[7]["plan"] = "pro"
    second = night(rows)
    assert (first.rows_new, second.rows_changed, second.rows_unchanged) == (500, 1, 499)
    assert store.operations == 501
    names = {b.name for b in container.list_blobs(name_starts_with="nightly/")}
    assert {"nightly/people.state", "nightly/people.checkpoint.json"} <= names
    assert not any(".journal/" in name for name in names)


def test_a_replaced_blob_has_another_fingerprint(container, tmp_path):
    container.upload_blob("replaced.csv", b"user_id\nu1\nu2\n", overwrite=True)
    url = f"az://{CONTAINER}/replaced.csv"
    fingerprint = backfill.sources.remote.fingerprint(url)
    container.upload_blob("replaced.csv", b"user_id\nu1\nu3\n", overwrite=True)
    assert backfill.sources.remote.fingerprint(url) != fingerprint


def test_a_missing_container_is_said_in_one_line(container):
    with pytest.raises((UsageError, backfill.errors.InputError)) as caught:
        backfill.validate({"version": 1, "operations": [
            {"type": "person", "action": "identify", "identifiers": {"id": "user_id"}}]},
            f"az://no-such-container-{free_port()}/people.csv")
    assert "\n" not in str(caught.value) and "no-such-container" in str(caught.value)
