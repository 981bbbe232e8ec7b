"""Byte streams of a file: decompression (gzip, zstd, bzip2, told by their first bytes),
transcoding to UTF-8, and the cutting of the stream into blocks of whole records, so that each
block can be parsed on its own."""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from typing import IO

from backfill.errors import InputError
from backfill.sources import remote
from backfill.sources.sniff import sniff_compression

MAX_RECORD_BYTES = 64 * 1024 * 1024  # the default of `source.max_record_bytes`
READ_BYTES = 1024 * 1024
BOM = b"\xef\xbb\xbf"


class Counted(io.RawIOBase):
    """Counts the bytes read from the underlying (compressed) file, for progress."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        if hasattr(self.raw, "readinto"):
            n = self.raw.readinto(b) or 0
        else:
            data = self.raw.read(len(b))
            n = len(data)
            b[:n] = data
        self.count += n
        return n


def open_bytes(path: str, compression: str | None, name: str) -> tuple[IO[bytes], Counted]:
    """The decompressed bytes of a file ('-': stdin), and the counter of its raw bytes read."""
    try:
        raw = sys.stdin.buffer if path == "-" else \
            remote.open_raw(path) if remote.is_url(path) else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(name, f"cannot open: {exc.strerror}") from None
    counted = Counted(raw)
    buffered = io.BufferedReader(counted, READ_BYTES)
    head = buffered.peek(4)[:4]
    kind = sniff_compression(head) if len(head) >= 3 else compression  # the bytes, not the name
    if kind == "gz":
        return gzip.GzipFile(fileobj=buffered, mode="rb"), counted
    if kind == "zst":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(buffered), counted
    if kind == "bz2":
        return bz2.BZ2File(buffered, mode="rb"), counted
    return buffered, counted


def pieces(name: str, stream: IO[bytes]) -> Iterator[bytes]:
    """Read decompressed bytes, translating decompression errors into InputError."""
    while True:
        try:
            data = stream.read(READ_BYTES)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(name, f"the compressed file is damaged or truncated ({exc}); "
                                       "nothing after this point can be read") from None
        except Exception as exc:  # zstandard.ZstdError and friends
            raise InputError(name, f"cannot decompress: {exc}") from None
        if not data:
            return
        yield data


def utf8_pieces(pieces: Iterator[bytes], encoding: str) -> Iterator[tuple[bytes, bool]]:
    """(utf-8 bytes, lossy) pieces; a UTF-8 BOM is dropped; other encodings are transcoded."""
    norm = codecs.lookup(encoding).name
    if norm == "utf-8":
        first = True
        for piece in pieces:
            if first:
                first = False
                if piece.startswith(BOM):
                    piece = piece[len(BOM):]
            yield piece, False
        return
    counter = _ErrorCounter()
    decoder = codecs.getincrementaldecoder(norm)(errors=counter.name)
    for piece in pieces:
        before = counter.errors
        text = decoder.decode(piece)
        if text.startswith("\ufeff"):
            text = text[1:]
        yield text.encode("utf-8"), counter.errors > before
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail.encode("utf-8"), True


class _ErrorCounter:
    """A codecs error handler that replaces undecodable bytes with U+FFFD and counts them."""

    def __init__(self) -> None:
        self.errors = 0
        self.name = f"backfill-replace-{id(self)}"
        codecs.register_error(self.name, self)

    def __call__(self, exc: UnicodeError) -> tuple[str, int]:
        self.errors += 1
        return "\ufffd", exc.end  # type: ignore[attr-defined]


def _cut(buf: bytes | bytearray, quote: bytes | None, limit: int, force: bool) -> int:
    """Where to cut `buf` (at most `limit` bytes) so the block holds whole records.

    Just after a newline outside quotes, or 0 when there is none yet. The quote parity is
    counted from the block's start; when it cannot be settled (a stray quote), `force` cuts at
    the last newline.
    """
    end = buf.rfind(b"\n", 0, limit)
    if end < 0:
        return 0
    if quote is None or force:
        return end + 1
    before = buf.count(quote, 0, end)
    for _ in range(256):
        if before % 2 == 0:
            return end + 1
        prev = buf.rfind(b"\n", 0, end)
        if prev < 0:
            return 0
        before -= buf.count(quote, prev, end)
        end = prev
    return 0


def blocks(pieces: Iterator[tuple[bytes, bool]], quote: bytes | None, size: int,
           longest: int = MAX_RECORD_BYTES, name: str = "") -> Iterator[tuple[bytes, bool]]:
    """Whole-record blocks of about `size` bytes, each with its lossy flag. A record longer than
    `longest` bytes (no newline in that many, or a quote left open that long) refuses the input
    with its line and byte offset: the buffer never holds more than about `longest` bytes."""
    buf = bytearray()
    lossy = False
    size = min(size, longest)  # a block never holds a record over the limit
    target = size
    offset = lines = 0  # of the bytes already yielded
    for piece, piece_lossy in pieces:
        buf += piece  # a bytearray grows in place: long records do not copy quadratically
        lossy = lossy or piece_lossy
        while len(buf) >= target:
            cut = _cut(buf, quote, target, force=target >= longest)
            if cut == 0:
                if target >= longest:
                    raise _too_long(name, offset, lines, longest)
                target = min(target * 2, longest)  # a long record: read on before cutting
                continue
            with memoryview(buf) as view:
                block = bytes(view[:cut])
            del buf[:cut]
            target = size
            offset, lines = offset + len(block), lines + block.count(b"\n")
            yield block, lossy
            lossy = piece_lossy
    if buf:
        yield bytes(buf), lossy


def _too_long(name: str, offset: int, lines: int, longest: int) -> InputError:
    return InputError(name, f"the record at line {lines + 1:,} (byte {offset:,} of the "
                      f"decompressed text) is longer than {longest:,} bytes, with no end of "
                      "line (or a quote left open): the input is refused. If such records "
                      "are real, raise source.max_record_bytes in the mapping")
