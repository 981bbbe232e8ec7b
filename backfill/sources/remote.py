"""Inputs where exports land: `s3://`, `gs://`, `az://` and `https://` URLs, read as streams.

fsspec does the reading (s3fs, gcsfs, adlfs; its own HTTP client), so each cloud's standard
credential chain applies (`AWS_PROFILE`, `AWS_ENDPOINT_URL`, instance roles, `GOOGLE_
APPLICATION_CREDENTIALS`, ...); nothing here sees or keeps a secret. A CSV or NDJSON object is
read in ranges as the flow asks for blocks, never whole on disk or in memory; Parquet is read
by polars' own cloud reader, which fetches only the row groups a slice needs.
"""

from __future__ import annotations

import glob
import io
import queue
import threading
from typing import IO, Any

from backfill.errors import InputError

# scheme -> the extra that brings its filesystem (pip install 'backfill[EXTRA]')
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure",
          "abfss": "azure", "http": "http", "https": "http"}
READ_BLOCK = 8 * 1024 * 1024  # bytes fetched per ranged request


def is_url(path: str) -> bool:
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.lower() in EXTRAS


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec

    scheme = url.partition("://")[0].lower()
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError:
        extra = EXTRAS[scheme]
        raise InputError(url, f"reading {scheme}:// needs its filesystem package: pip install "
                              f"'backfill[{extra}]'") from None
    except Exception as exc:  # noqa: BLE001 - a bad URL or a client that cannot start
        raise InputError(url, f"cannot reach it: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def expand(pattern: str) -> list[str]:
    """The objects a URL names: itself, or a glob's matches, sorted."""
    fs, path = _filesystem(pattern)
    try:
        if glob.has_magic(path):
            found = sorted(p for p in fs.glob(path) if not fs.isdir(p))
            if not found:
                raise InputError(pattern, "no object matches this pattern")
            return [fs.unstrip_protocol(p) for p in found]
        if fs.isdir(path):
            raise InputError(pattern, "is a folder (a prefix); give objects or a glob such as "
                                      f"'{pattern.rstrip('/')}/*.csv'")
        fs.info(path)
    except FileNotFoundError:
        raise InputError(pattern, "no such object") from None
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - permissions, network: said in one line
        raise InputError(pattern, f"cannot list it: {_reason(exc)}") from None
    return [pattern]


def info(url: str) -> dict[str, Any]:
    fs, path = _filesystem(url)
    try:
        return fs.info(path)
    except FileNotFoundError:
        raise InputError(url, "no such object (was it removed?)") from None
    except Exception as exc:  # noqa: BLE001
        raise InputError(url, f"cannot read its details: {_reason(exc)}") from None


def size(url: str) -> int:
    return int(info(url).get("size") or 0)


def fingerprint(url: str) -> dict[str, Any]:
    """What identifies this version of the object: its ETag (S3, Azure, HTTP) or generation
    (GCS), size and last-modified time, as the store reports them (no content is read)."""
    meta = info(url)
    version = next((str(meta[k]) for k in ("generation", "ETag", "etag", "md5Hash",
                                           "content_md5") if meta.get(k)), "")
    modified = next((str(meta[k]) for k in ("LastModified", "last_modified", "updated",
                                            "mtime") if meta.get(k)), "")
    return {"path": url, "size": int(meta.get("size") or 0), "mtime": modified,
            "sample": version}


def open_raw(url: str) -> IO[bytes]:
    """The object's bytes, fetched ahead in a thread of their own while the flow parses."""
    fs, path = _filesystem(url)
    try:
        return Prefetched(fs.open(path, "rb", block_size=READ_BLOCK, cache_type="none"))
    except FileNotFoundError:
        raise InputError(url, "no such object") from None
    except Exception as exc:  # noqa: BLE001
        raise InputError(url, f"cannot open: {_reason(exc)}") from None


class Prefetched(io.RawIOBase):
    """Reads `READ_BLOCK`s of a remote file in a thread, `AHEAD` of the reader: the next range
    is on its way while this one is parsed (a fetch at a time, in the flow's thread, left the
    cores idle during each round trip)."""

    AHEAD = 1

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self._queue: queue.Queue = queue.Queue(self.AHEAD)
        self._stop = threading.Event()
        self._current = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._fetch, daemon=True, name="prefetch")
        self._thread.start()

    def _fetch(self) -> None:
        try:
            while not self._stop.is_set():
                data = self.raw.read(READ_BLOCK)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while not self._current and not self._done:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            self._done = not item
            self._current = memoryview(item)
        n = min(len(b), len(self._current))
        b[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.raw.close()
        super().close()
