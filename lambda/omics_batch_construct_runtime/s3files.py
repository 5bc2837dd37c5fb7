"""Files the functions write to S3 as they are made: one PutObject when small, else a multipart
upload, so no function holds a whole file; settings files named by their own content; and how
an object that may be missing is looked for (``listed``, ``NO_SUCH_KEY``).

Shared by the tracker (reports, rows, resubmissions) and the deploy's handler (a revision's
increment): a settings file HealthOmics reads must never change under it (a changed ETag fails the
batch), so it is written at a key of its own content, only if absent.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from omics_batch_construct_runtime.errors import ApiError, call
from omics_batch_construct_runtime.outcome import split_s3_uri

logger = logging.getLogger(__name__)

# Parts of a multipart upload (S3 asks at least 5 MiB of every part but the last).
PART_BYTES = 16 << 20
JSON = "application/json"
# S3 answers that mean "there is no such object".
NO_SUCH_KEY = frozenset({"NoSuchKey", "404"})


def listed(s3: Any, uri: str, ref: str = "") -> bool:
    """Whether a listing of ``uri``'s exact key shows the object there. An object that may be
    missing is read only after this: to a reader that may list the bucket for that key only
    (``s3:prefix``), S3 answers a missing key with 403, not 404."""
    bucket, key = split_s3_uri(uri)
    answer = call(s3, "ListObjectsV2", ref, Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item.get("Key") == key for item in answer.get("Contents", []))


class S3Writer:
    """A file written to ``uri`` in pieces: one PutObject if small, else a multipart upload."""

    def __init__(
        self,
        s3: Any,
        uri: str,
        content_type: str,
        batch_id: str,
        part_bytes: int = PART_BYTES,
        *,
        if_none_match: bool = False,
    ) -> None:
        self._s3 = s3
        self.uri = uri
        self._bucket, self._key = split_s3_uri(uri)
        self._content_type = content_type
        self._batch_id = batch_id
        self._part_bytes = part_bytes
        self._buffer = io.BytesIO()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.size = 0
        # Written only if the key is absent (S3 answers 412 PreconditionFailed when it is there).
        self._condition = {"IfNoneMatch": "*"} if if_none_match else {}

    def write(self, data: bytes) -> None:
        self._buffer.write(data)
        self.size += len(data)
        if self._buffer.tell() >= self._part_bytes:
            self._flush_part()

    def _flush_part(self) -> None:
        if self._upload_id is None:
            started = self._call(
                "CreateMultipartUpload", Bucket=self._bucket, Key=self._key, ContentType=self._content_type
            )
            self._upload_id = str(started["UploadId"])
        number = len(self._parts) + 1
        body = self._buffer.getvalue()
        part = self._call(
            "UploadPart", Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"ETag": part["ETag"], "PartNumber": number})
        self._buffer = io.BytesIO()

    def close(self) -> str:
        """Finish the upload; the file's URI."""
        if self._upload_id is None:
            body = self._buffer.getvalue()
            self._call(
                "PutObject",
                Bucket=self._bucket,
                Key=self._key,
                Body=body,
                ContentType=self._content_type,
                **self._condition,
            )
        else:
            if self._buffer.tell():
                self._flush_part()
            self._call(
                "CompleteMultipartUpload",
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
                **self._condition,
            )
        logger.info("Batch %s: wrote %s (%d bytes)", self._batch_id, self.uri, self.size)
        return self.uri

    def abort(self) -> None:
        """Drop a multipart upload that will not be completed (its parts cost storage)."""
        if self._upload_id is not None:
            self._call("AbortMultipartUpload", Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)

    def __enter__(self) -> S3Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
        else:
            self.abort()

    def _call(self, operation: str, **params: Any) -> Any:
        return call(self._s3, operation, self._batch_id, **params)


class JsonArrayWriter:
    """A JSON array written element by element, one a line (diffable and greppable), as UTF-8: the
    report's ``report.json``. ``json_array_lines`` reads it back a line at a time."""

    def __init__(self, out: S3Writer) -> None:
        self._out = out
        self._separator = b"[\n"
        self.count = 0

    def add(self, item: Any) -> None:
        self._out.write(self._separator + json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
        self._separator = b",\n"
        self.count += 1

    def close(self) -> None:
        self._out.write(b"[\n]\n" if self.count == 0 else b"\n]\n")


def json_array_lines(lines: Iterable[bytes]) -> Iterator[Any]:
    """The elements of an array ``JsonArrayWriter`` wrote, from its lines (a body's ``iter_lines``),
    one at a time: a million-row report is never held whole."""
    for raw in lines:
        line = raw.strip()
        if line in (b"", b"[", b"]"):
            continue
        yield json.loads(line[:-1] if line.endswith(b",") else line)


def json_array(entries: Iterable[Any]) -> Iterator[bytes]:
    """A JSON array's bytes, entry by entry: exactly ``json.dumps(list, ensure_ascii=False,
    separators=(",", ":"))``."""
    separator = b"["
    for entry in entries:
        yield separator + json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
        separator = b","
    yield b"]" if separator == b"," else b"[]"


def entry_digest(entry: Mapping[str, Any]) -> int:
    """What a settings entry is, as a 128-bit number: its canonical JSON's hash. The same entry inline
    in a template or in a settings file has the same digest; a changed field, another one."""
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


def id_digest(run_setting_id: str) -> int:
    """A runSettingId as a 64-bit number: sets of a million of them stay small."""
    return int.from_bytes(hashlib.blake2b(run_setting_id.encode(), digest_size=8).digest(), "big")


def write_settings(
    s3: Any, uri_of: Callable[[str], str], entries: Callable[[], Iterable[dict[str, Any]]], batch_id: str
) -> tuple[str, int]:
    """A settings file of ``entries`` at ``uri_of(<its content's hash>)``, written only if absent, and
    its number of entries ("" and 0 when there are none).

    ``entries`` streams them, and is called twice: once to name the file, once to write it, so that
    100,000 entries are never held whole."""
    digest, count = hashlib.sha256(), 0
    for chunk in json_array(entries()):
        digest.update(chunk)
        if chunk not in (b"]", b"[]"):
            count += 1
    if not count:
        return "", 0
    uri = uri_of(digest.hexdigest()[:16])
    _write_once(s3, uri, json_array(entries()), batch_id)
    return uri, count


# What a settings file being made may hold in memory before it spills to the function's /tmp.
SPOOL_BYTES = 64 << 20


def write_settings_files(
    s3: Any, uri_of: Callable[[str], str], entries: Iterable[dict[str, Any]], batch_id: str, per_file: int
) -> list[tuple[str, int]]:
    """``entries`` as settings files of at most ``per_file`` entries each, in one pass: each file
    spooled (to disk past SPOOL_BYTES) while its content is hashed, then written at ``uri_of(<hash>)``
    only if absent. Each file's URI and number of entries, in order (none: no entries)."""
    written: list[tuple[str, int]] = []
    entries = iter(entries)
    while True:
        chunk = list(itertools.islice(entries, 1))
        if not chunk:
            return written
        rest = itertools.islice(entries, per_file - 1)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            digest, count = hashlib.sha256(), 0
            for piece in json_array(itertools.chain(chunk, rest)):
                digest.update(piece)
                spool.write(piece)
                count += piece not in (b"]", b"[]")
            spool.seek(0)
            uri = uri_of(digest.hexdigest()[:16])
            _write_once(s3, uri, iter(lambda: spool.read(PART_BYTES), b""), batch_id)
        written.append((uri, count))


def _write_once(s3: Any, uri: str, pieces: Iterable[bytes], batch_id: str) -> None:
    """A file named by its content, written unless it is there already (then it is the same)."""
    writer = S3Writer(s3, uri, JSON, batch_id, if_none_match=True)
    try:
        for piece in pieces:
            writer.write(piece)
        writer.close()
    except ApiError as err:
        writer.abort()
        if err.code != "PreconditionFailed":  # (a concurrent write's 409 is transient: tried again)
            raise
        logger.info("Batch %s: %s is already there (written before)", batch_id, uri)
