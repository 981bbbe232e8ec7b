"""Security: credentials stay out of every artefact; YAML is loaded safely; TLS is verified;
the emulator binds to loopback unless told otherwise."""

from __future__ import annotations

import ssl

import pytest
from click.testing import CliRunner
from helpers import write
from helpers.emulated import KEY, SITE, start

from backfill.cli import cli
from backfill.delivery.sender import Sender
from backfill.emulator import Faults
from backfill.errors import MappingError
from backfill.mapping.config import parse_mapping

MAPPING = """\
version: 1
operations:
  - {type: person, action: identify, identifiers: {email: email}, attributes: {n: n}}
"""


@pytest.mark.parametrize("how", ["ok", "unauthorized", "exhausted", "refused", "bad input"])
def test_credentials_never_appear_in_any_artefact(tmp_path, how):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    rows = "email,n\na@x.com,1\nnot-an-email,2\n" if how == "refused" else "email,n\na@x.com,1\n"
    if how == "bad input":
        rows += "b@x.com,1,extra\n"
    data = write(tmp_path / "p.csv", rows)
    faults = Faults(fail_rate=1.0 if how == "exhausted" else 0.0, seed=1)
    emu, _ = start(tmp_path / "emu", faults=faults)
    key = "wrong-" + KEY if how == "unauthorized" else KEY
    try:
        result = CliRunner().invoke(cli, [
            "run", str(mapping), str(data), "--endpoint", emu.url, "--retries", "2",
            "--report", str(tmp_path / "report.json"), "--site-id", SITE, "--api-key", key])
        validated = CliRunner().invoke(cli, [
            "validate", str(mapping), str(data), "--dump-batches", str(tmp_path / "dump"),
            "--rejects", str(tmp_path / "v.rejects")], env={"CUSTOMERIO_API_KEY": key})
    finally:
        emu.stop()
    assert result.exit_code in (0, 1, 3, 4)
    assert KEY not in result.output + validated.output
    artefacts = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix not in (
        ".sqlite", ".yaml", ".csv") and "-wal" not in p.name and "-shm" not in p.name]
    # the input is read while the endpoint is checked: refused credentials leave a checkpoint
    # too (of no row sent), and it is searched for the key like every artefact
    assert any(p.name.endswith(".checkpoint.json") for p in artefacts)
    for path in artefacts:
        assert KEY.encode() not in path.read_bytes(), path


def test_yaml_tags_are_not_executed(tmp_path):
    target = tmp_path / "pwned"
    text = f"version: 1\noperations: !!python/object/apply:os.mkdir ['{target}']\n"
    with pytest.raises(MappingError):
        parse_mapping(text, "evil.yaml")
    assert not target.exists()


def test_tls_is_verified_by_default():
    sender = Sender("https://track.customer.io", "s", "k")
    assert sender.tls is not None
    assert (sender.tls.verify_mode, sender.tls.check_hostname) == (ssl.CERT_REQUIRED, True)


def test_the_emulator_binds_to_loopback_by_default():
    from backfill.cli import emulator

    host = next(p for p in emulator.params if p.name == "host")
    assert host.default == "127.0.0.1"
