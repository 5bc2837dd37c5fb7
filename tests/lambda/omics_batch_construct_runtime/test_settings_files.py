"""Settings files (the s3UriSettings format), decoded one entry at a time from a byte stream.

The tracker's retry file and the omics-batch command both read them with this one reader.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from omics_batch_construct_runtime.errors import ApiError
from omics_batch_construct_runtime.outcome import (
    SettingsError,
    bucket_name_problem,
    json_array,
    read_settings,
    s3_settings,
    s3_uri_problem,
    select,
    split_s3_uri,
)

CREDENTIALS: dict[str, str] = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}
BATCH_ID = "4455667"
SETTINGS_BUCKET = "cdk-assets"
SETTINGS_KEY = "0f3e5a.json"
SETTINGS_URI = f"s3://{SETTINGS_BUCKET}/{SETTINGS_KEY}"

GET_SETTINGS = {"Bucket": SETTINGS_BUCKET, "Key": SETTINGS_KEY}

ENTRIES: list[Any] = [
    {"runSettingId": "é-1", "parameters": {"note": 'naïve, "quoted" ] } [ {', "n": 1.5e3, "ok": True}},
    {"runSettingId": "漢字-2", "outputUri": "s3://out/漢字/", "runTags": {}},
    {"runSettingId": "emoji-3", "parameters": {"x": "🧬" * 50, "empty": [], "null": None}},
]


def decode(data: bytes, chunk_bytes: int) -> list[Any]:
    return list(json_array(io.BytesIO(data).read, "runs.json", chunk_bytes))


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
        (b"", "expected a JSON array"),
        (b'{"runSettingId": "a"}', "expected a JSON array"),
        (b'[{"runSettingId": "a"}', "ends in the middle"),
        (b'[{"runSettingId": "a"},]', "not valid JSON"),
        (b'[{"runSettingId": "a"} {"runSettingId": "b"}]', "not valid JSON at character 23"),
        (b'[{"runSettingId": "a"}] []', "data after the JSON array"),
        (b'[{"runSettingId": "\xff"}]', "not UTF-8"),
        (b'[{"runSettingId": "a", }]', "not valid JSON"),
    ],
)
def test_a_malformed_file_raises_settings_error_naming_the_file(data: bytes, message: str) -> None:
    for chunk_bytes in (1, 5, 1 << 20):
        with pytest.raises(SettingsError, match=f"^runs.json: .*{message}"):
            decode(data, chunk_bytes)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "x"}], "entry 0 has no runSettingId"),
        ([{"runSettingId": "a"}, "b"], "entry 1 has no runSettingId"),
        ([{"runSettingId": 7}], "entry 0 has no runSettingId"),
        ([{"runSettingId": "a"}, {"runSettingId": "a"}], "runSettingId 'a' appears more than once"),
    ],
)
def test_each_entry_is_an_object_with_a_runsettingid_of_its_own(entries: list[Any], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^runs.json: {message}$"):
        list(read_settings(io.BytesIO(json.dumps(entries).encode()).read, "runs.json"))


def test_selection_keeps_the_asked_entries_in_file_order_the_missing_and_own_output_uris() -> None:
    entries = [{"runSettingId": sid} for sid in "abcde"]
    entries[3]["outputUri"] = "s3://own/d/"

    found = select(iter(entries), frozenset({"e", "b", "z", "y"}))

    assert found.entries == [{"runSettingId": "b"}, {"runSettingId": "e"}]
    assert found.missing == ["y", "z"]
    assert found.output_uris == {"d": "s3://own/d/"}


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/", "s3:///key", "https://bucket/key", "bucket/key"])
def test_split_s3_uri(uri: str) -> None:
    assert split_s3_uri("s3://bucket/a/b.json") == ("bucket", "a/b.json")
    with pytest.raises(SettingsError, match=f"^{uri}: not an s3://bucket/key URI$"):
        split_s3_uri(uri)


@pytest.mark.parametrize(
    "name", ["abc", "a" * 63, "my-bucket", "my.bucket.2026", "123", "1.2.3", "1.2.3.4.5", "xn-ok", "b-0.c"]
)
def test_bucket_names_s3_accepts(name: str) -> None:
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ab", "2 characters, not 3 to 63"),
        ("", "0 characters, not 3 to 63"),
        ("a" * 64, "64 characters, not 3 to 63"),
        ("My_bucket", "it has 'M', '_' (lowercase letters, digits, dots and hyphens only)"),
        ("my bucket", "it has ' ' (lowercase letters, digits, dots and hyphens only)"),
        ("-bucket", "it must begin and end with a letter or digit"),
        ("bucket-", "it must begin and end with a letter or digit"),
        (".bucket", "it must begin and end with a letter or digit"),
        ("my..bucket", "it has '..' (no two dots in a row, nor a dot beside a hyphen)"),
        ("my-.bucket", "it has '-.' (no two dots in a row, nor a dot beside a hyphen)"),
        ("192.168.5.4", "it is formatted as an IP address"),
    ],
)
def test_bucket_names_s3_refuses(name: str, problem: str) -> None:
    assert bucket_name_problem(name) == problem


@pytest.mark.parametrize("uri", ["s3://out-bucket", "s3://out-bucket/", "s3://out-bucket/a/b", "s3://out-bucket//a"])
def test_s3_uris_with_a_valid_bucket_and_any_prefix(uri: str) -> None:
    assert s3_uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("out-bucket/a", "is not an s3://bucket/prefix URI"),
        ("s3:/out-bucket/a", "is not an s3://bucket/prefix URI"),
        ("", "is not an s3://bucket/prefix URI"),
        ("s3://", "names no bucket (s3://bucket/prefix)"),
        ("s3:///a", "names no bucket (s3://bucket/prefix)"),
        ("s3://Out/a", "names the bucket 'Out', which is not a valid S3 bucket name: it has 'O' (lowercase"),
    ],
)
def test_s3_uris_refused(uri: str, problem: str) -> None:
    assert (s3_uri_problem(uri) or "").startswith(problem)


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
        entries = s3_settings(s3, SETTINGS_URI, BATCH_ID)

        assert next(entries) == {"runSettingId": "a"}
        with pytest.raises(ApiError, match=f"GetObject failed for batch {BATCH_ID}: ReadTimeoutError") as caught:
            next(entries)
    assert caught.value.transient
