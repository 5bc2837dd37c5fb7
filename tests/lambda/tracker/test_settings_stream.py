"""The run settings file, decoded one entry at a time from a byte stream."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from tracker_testkit import BATCH_ID, CREDENTIALS, SETTINGS_BUCKET, SETTINGS_KEY, SETTINGS_URI

from omics_common.errors import ApiError
from tracker.settings import SettingsError, json_array, s3_entries, scan, split_s3_uri

GET_SETTINGS = {"Bucket": SETTINGS_BUCKET, "Key": SETTINGS_KEY}

ENTRIES: list[Any] = [
    {"runSettingId": "é-1", "parameters": {"note": 'naïve, "quoted" ] } [ {', "n": 1.5e3, "ok": True}},
    {"runSettingId": "漢字-2", "outputUri": "s3://out/漢字/", "runTags": {}},
    {"runSettingId": "emoji-3", "parameters": {"x": "🧬" * 50, "empty": [], "null": None}},
]


def decode(data: bytes, chunk_bytes: int) -> list[Any]:
    return list(json_array(io.BytesIO(data).read, chunk_bytes))


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_any_chunking_decodes_what_json_loads_does(chunk_bytes: int, indent: int | None) -> None:
    data = json.dumps(ENTRIES, ensure_ascii=False, indent=indent).encode()

    assert decode(data, chunk_bytes) == json.loads(data) == ENTRIES


@pytest.mark.parametrize("data", [b"[]", b"  [ ]  \n", b"\n[\n]\n"])
def test_an_empty_array_has_no_entries(data: bytes) -> None:
    assert decode(data, 1) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a JSON array"),
        (b'{"runSettingId": "a"}', "not a JSON array"),
        (b'[{"runSettingId": "a"}', "end in the middle"),
        (b'[{"runSettingId": "a"},]', "not valid JSON"),
        (b'[{"runSettingId": "a"} {"runSettingId": "b"}]', "not valid JSON at character 23"),
        (b'[{"runSettingId": "a"}] []', "data after the JSON array"),
        (b'[{"runSettingId": "\xff"}]', "not UTF-8"),
        (b'[{"runSettingId": "a", }]', "not valid JSON"),
    ],
)
def test_a_malformed_file_raises_settings_error(data: bytes, message: str) -> None:
    for chunk_bytes in (1, 5, 1 << 20):
        with pytest.raises(SettingsError, match=message):
            decode(data, chunk_bytes)


def test_scan_keeps_own_output_uris_and_the_failed_entries_in_file_order() -> None:
    entries = [{"runSettingId": sid} for sid in "abcde"]
    entries[3]["outputUri"] = "s3://own/d/"

    found = scan(iter(entries), frozenset({"e", "b"}))

    assert found.output_uris == {"d": "s3://own/d/"}
    assert found.retry == [{"runSettingId": "b"}, {"runSettingId": "e"}]


def test_split_s3_uri() -> None:
    assert split_s3_uri("s3://bucket/a/b.json") == ("bucket", "a/b.json")
    with pytest.raises(SettingsError, match="Not an s3:// object URI"):
        split_s3_uri("s3://bucket")


class _DroppingStream:
    """An S3 body whose connection drops after the first bytes."""

    def __init__(self) -> None:
        self.sent = False

    def read(self, *_: Any) -> bytes:
        if self.sent:
            raise botocore.exceptions.ReadTimeoutError(endpoint_url="https://s3.example")
        self.sent = True
        return b'[{"runSettingId": "a"},'

    def close(self) -> None:
        pass


def test_a_connection_lost_mid_file_is_transient() -> None:
    s3 = boto3.client("s3", **CREDENTIALS)
    with Stubber(s3) as stubber:
        stubber.add_response("get_object", {"Body": StreamingBody(_DroppingStream(), 1000)}, GET_SETTINGS)
        entries = s3_entries(s3, SETTINGS_URI, BATCH_ID)

        assert next(entries) == {"runSettingId": "a"}
        with pytest.raises(ApiError, match=f"GetObject failed for batch {BATCH_ID}: ReadTimeoutError") as caught:
            next(entries)
    assert caught.value.transient
