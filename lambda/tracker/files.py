"""The tracker's S3 files, written as they are made and read as they are needed.

A cohort's report can hold a million rows (hundreds of MB): a file is uploaded in parts of
``PART_BYTES`` as it is written (S3's multipart upload), or with one PutObject when it is
small, so the function never holds a whole file. Rows files are JSON Lines, read back a line
at a time.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from omics_common.clients import Client
from omics_common.errors import call
from omics_common.outcome import split_s3_uri

logger = logging.getLogger(__name__)

# Parts of a multipart upload (S3 asks at least 5 MiB of every part but the last).
PART_BYTES = 16 << 20
JSON = "application/json"
CSV = "text/csv; charset=utf-8"
JSON_LINES = "application/x-ndjson"


class S3Writer:
    """A file written to ``uri`` in pieces: one PutObject if small, else a multipart upload."""

    def __init__(
        self,
        s3: Client,
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
    """A JSON array written element by element, one a line (diffable and greppable), as UTF-8."""

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


class CsvWriter:
    """CSV rows under a header of ``columns``, as UTF-8, handed on in pieces of about 64 KB."""

    def __init__(self, out: S3Writer, columns: Sequence[str]) -> None:
        self._out = out
        self._text = io.StringIO(newline="")
        self._writer = csv.DictWriter(self._text, fieldnames=columns)
        self._writer.writeheader()

    def add(self, record: Mapping[str, str]) -> None:
        self._writer.writerow(record)
        if self._text.tell() >= 1 << 16:
            self._flush()

    def _flush(self) -> None:
        self._out.write(self._text.getvalue().encode())
        self._text.seek(0)
        self._text.truncate()

    def close(self) -> None:
        self._flush()


def write_json_lines(s3: Client, uri: str, items: Iterable[Any], batch_id: str) -> str:
    with S3Writer(s3, uri, JSON_LINES, batch_id) as out:
        for item in items:
            out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    return uri


def read_json_lines(s3: Client, uri: str, batch_id: str) -> Iterator[Any]:
    """The values of a JSON Lines file, one at a time as read."""
    bucket, key = split_s3_uri(uri)
    body = call(s3, "GetObject", batch_id, Bucket=bucket, Key=key)["Body"]
    try:
        for line in body.iter_lines():
            if line:
                yield json.loads(line)
    finally:
        body.close()
