"""Object storage and the web as places to read and write whole objects: `s3://`, `gs://`,
`az://` (and `abfs://`), `https://`. Through obstore (Rust's `object_store`), with each cloud's
standard configuration (`AWS_PROFILE`, `AWS_ENDPOINT_URL`, instance roles, `GOOGLE_APPLICATION_
CREDENTIALS`, `AZURE_STORAGE_*`, ...). A `put` replaces an object whole or not at all, so a
checkpoint or report written here is never half-written.

Inputs stream from here (`sources.remote`); the checkpoint, rejects and report may be written
here (`runfiles.atomic.write_bytes`, `runfiles.checkpoint`, `runfiles.rejects`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backfill.errors import UsageError

SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "http", "https")


def is_url(path: object) -> bool:
    text = str(path)
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


_QUERY = re.compile(r"((?:https?|s3a?|gs|gcs|az|abfss?)://[^\s?#'\"]*)[?#][^\s'\"]*")
_USERINFO = re.compile(r"((?:https?)://)[^\s/@'\"]+@")


def shown(text: str) -> str:
    """A URL (or a text holding URLs) as it may be shown or stored: a query string (a presigned
    URL's `X-Amz-Signature=...`, a SAS token) and a `user:password@` replaced, so no secret
    reaches a name, a report, a rejects line, stdout or a checkpoint."""
    if "://" not in text:
        return text
    return _USERINFO.sub(r"\1<redacted>@", _QUERY.sub(r"\1?<redacted>", text))


def reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return shown(text.strip().splitlines()[0][:300])


def store_of(url: str) -> tuple[Any, str]:
    """The store of the URL's bucket (or web server) and the object's path in it."""
    from obstore.store import from_url

    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    # plain http is for S3-compatible servers on a private network (AWS_ENDPOINT_URL)
    return from_url(base, client_options={"allow_http": True}), parts.path.lstrip("/")


def not_found(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or type(exc).__name__ == "NotFoundError"


_RAISE = object()


def _do(url: str, doing: str, action: Callable[[Any, str], Any], absent: Any = _RAISE) -> Any:
    """`action(store, path)`; a missing object gives `absent` (if given); any other failure a
    one-line `UsageError` naming the URL and what could not be done."""
    try:
        store, path = store_of(url)
        return action(store, path)
    except Exception as exc:  # noqa: BLE001 - the store's errors, said in one line
        if absent is not _RAISE and not_found(exc):
            return absent
        raise UsageError(f"{url}: cannot {doing}: {reason(exc)}") from None


def read(url: str) -> bytes | None:
    """The object's bytes; None when there is no such object."""
    import obstore

    return _do(url, "read it", lambda store, path: bytes(obstore.get(store, path).bytes()),
               absent=None)


def download(url: str, target: Path) -> bool:
    """The object streamed into the file `target` (never whole in memory); False when there is
    no such object."""
    import obstore

    def fetch(store: Any, path: str) -> bool:
        found = obstore.get(store, path)  # before the file is made: absent, nothing made
        with target.open("wb") as out:
            for piece in found.stream():
                out.write(piece)
        return True

    return _do(url, "read it", fetch, absent=False)


def write(url: str, data: bytes | Path) -> None:
    """Replace the object whole (a PUT is atomic: readers see the old object or the new); a
    file's bytes are streamed up (multipart for a large one), not read into memory."""
    import obstore

    _do(url, "write it", lambda store, path: obstore.put(store, path, data))


def exists(url: str) -> bool:
    import obstore

    return _do(url, "read its details",
               lambda store, path: obstore.head(store, path) is not None, absent=False)


def rename(url: str, target: str) -> None:
    """Within one bucket (a copy, then the old object deleted)."""
    import obstore

    _do(url, f"rename it to {target}",
        lambda store, path: obstore.rename(store, path, store_of(target)[1]))


def listing(prefix: str) -> list[str]:
    """The URLs of the objects under `prefix` (a folder-like URL ending in `/`), sorted."""
    import obstore

    parts = urlsplit(prefix)
    base = f"{parts.scheme}://{parts.netloc}"

    def names(store: Any, path: str) -> list[str]:
        batches = obstore.list(store, path.rstrip("/") or None)
        return sorted(f"{base}/{meta['path']}" for batch in batches for meta in batch)

    return _do(prefix, "list it", names, absent=[])


def delete(url: str) -> None:
    """Remove the object (no error when it is already gone)."""
    import obstore

    _do(url, "delete it", lambda store, path: obstore.delete(store, path), absent=None)
