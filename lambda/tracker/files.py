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
from typing import Any

from omics_batch_construct_runtime import s3files
from omics_batch_construct_runtime.clients import Client
from omics_batch_construct_runtime.errors import call
from omics_batch_construct_runtime.outcome import split_s3_uri
from omics_batch_construct_runtime.s3files import S3Writer

logger = logging.getLogger(__name__)

JSON = s3files.JSON
CSV = "text/csv; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON_LINES = "application/x-ndjson"


# report.json's format has one owner, shared with the command that reads it back.
JsonArrayWriter = s3files.JsonArrayWriter


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
