"""The batch's original run settings: read once, streamed, for output URIs and retries.

A settings file holds up to 100,000 entries (up to 6 GB): parsed whole, it would take
several times its size in memory. It is read in chunks and decoded one entry at a time;
only what the report needs is kept: the ``outputUri`` of entries that set their own,
and the entries of runs that failed, in the file's order.

A file that cannot be read (missing, access denied, not a JSON array of objects) does
not stop the report: the report says why it has no retry file. Throttling and network
failures still raise, so the state machine retries the whole report.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from omics_common.errors import ApiError, call

from .clients import Client
from .errors import TrackerError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# An entry longer than this is a malformed file, not a run setting: stop reading.
MAX_ENTRY_CHARS = 16 << 20
_NOT_BLANK = re.compile(r"[^ \t\n\r]")
# S3 answers that mean "this file cannot be read", as opposed to "try again later".
_UNREADABLE_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "AccessDenied", "InvalidObjectState", "404", "403"})


class SettingsError(TrackerError):
    """The run settings cannot be read or are not the s3UriSettings format."""


@dataclass
class SettingsScan:
    """What the report keeps of the run settings."""

    output_uris: dict[str, str] = field(default_factory=dict)  # runSettingId -> own outputUri
    retry: list[dict[str, Any]] = field(default_factory=list)  # failed runs' entries, file order


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise SettingsError(f"Not an s3:// object URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def scan(entries: Iterable[Any], failed_ids: frozenset[str]) -> SettingsScan:
    """One pass over the entries: own output URIs, and the entries of ``failed_ids``."""
    found = SettingsScan()
    for number, entry in enumerate(entries, start=1):
        run_setting_id = entry.get("runSettingId") if isinstance(entry, dict) else None
        if not isinstance(run_setting_id, str):
            raise SettingsError(f"Run settings entry {number} is not an object with a runSettingId")
        if isinstance(entry.get("outputUri"), str):
            found.output_uris[run_setting_id] = entry["outputUri"]
        if run_setting_id in failed_ids:
            found.retry.append(entry)
    return found


def s3_entries(s3: Client, uri: str, batch_id: str) -> Iterator[Any]:
    """The entries of the JSON array at ``uri``, decoded one at a time as consumed."""
    bucket, key = split_s3_uri(uri)
    try:
        body = call(s3, "GetObject", batch_id, Bucket=bucket, Key=key)["Body"]
    except ApiError as err:
        if err.code in _UNREADABLE_CODES:
            raise SettingsError(f"Cannot read the run settings {uri}: {err.code}") from err
        raise
    try:
        yield from json_array(_reader(body, uri, batch_id))
    finally:
        body.close()


def json_array(read: Callable[[int], bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[Any]:
    """The elements of the UTF-8 JSON array that ``read(n)`` returns in pieces."""
    return _ArrayDecoder(read, chunk_bytes).elements()


class _ArrayDecoder:
    """A JSON array decoded element by element over a byte stream (json.raw_decode per element)."""

    def __init__(self, read: Callable[[int], bytes], chunk_bytes: int) -> None:
        self._read = read
        self._chunk_bytes = chunk_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._json = json.JSONDecoder()
        self._text = ""
        self._pos = 0
        self._dropped = 0  # characters consumed and dropped from the front of the text
        self._eof = False

    def elements(self) -> Iterator[Any]:
        if self._next_char() != "[":
            raise SettingsError("The run settings are not a JSON array")
        self._pos += 1
        if self._next_char() == "]":
            self._pos += 1
        else:
            yield from self._items()
        if self._next_char():
            raise SettingsError("The run settings have data after the JSON array")

    def _items(self) -> Iterator[Any]:
        while True:
            yield self._value()
            separator = self._next_char()
            if not separator:
                raise SettingsError("The run settings end in the middle of the JSON array")
            if separator not in ",]":
                raise SettingsError(f"The run settings are not valid JSON at character {self._dropped + self._pos}")
            self._pos += 1
            if separator == "]":
                return

    def _value(self) -> Any:
        """The next element; an incomplete one waits for more text."""
        if not self._next_char():
            raise SettingsError("The run settings end in the middle of the JSON array")
        while True:
            try:
                value, self._pos = self._json.raw_decode(self._text, self._pos)
                return value
            except json.JSONDecodeError as err:
                if len(self._text) - self._pos > MAX_ENTRY_CHARS or not self._fill():
                    raise SettingsError(f"The run settings are not valid JSON: {err.msg}") from err

    def _next_char(self) -> str:
        """The next non-blank character, not consumed; "" at the end."""
        while True:
            found = _NOT_BLANK.search(self._text, self._pos)
            if found:
                self._pos = found.start()
                return found.group()
            self._pos = len(self._text)
            if not self._fill():
                return ""

    def _fill(self) -> bool:
        """Drop the consumed text and append the next chunk; False at the end."""
        if self._eof:
            return False
        chunk = self._read(self._chunk_bytes)
        self._eof = not chunk
        try:
            more = self._utf8.decode(chunk, final=self._eof)
        except UnicodeDecodeError as err:
            raise SettingsError("The run settings are not UTF-8") from err
        self._dropped += self._pos
        self._text = self._text[self._pos :] + more
        self._pos = 0
        return bool(more) or not self._eof


def _reader(body: Any, uri: str, batch_id: str) -> Callable[[int], bytes]:
    """``body.read``, with a connection lost mid-object reported as transient."""

    def read(size: int) -> bytes:
        try:
            return bytes(body.read(size))
        except (botocore.exceptions.HTTPClientError, botocore.exceptions.IncompleteReadError) as err:
            failure = type(err).__name__
            raise ApiError("GetObject", failure, f"{uri}: {err}", batch_id=batch_id, http_status=503) from err

    return read
