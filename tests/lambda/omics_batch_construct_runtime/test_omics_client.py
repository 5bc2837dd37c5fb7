"""The handlers' omics client: botocore's own, with a faster reading of the service's timestamps."""

from __future__ import annotations

import datetime

import botocore.utils
import pytest

from omics_batch_construct_runtime import omics
from omics_batch_construct_runtime.omics import omics_client, parse_timestamp
from tests.standin.healthomics import HealthOmics

SPELLINGS = [
    "2026-04-01T08:00:00Z",
    "2026-04-01T08:00:00.123Z",
    "2026-04-01T08:00:00.123456+00:00",
    "2026-04-01T10:00:00+02:00",
    "2026-04-01T08:00:00",  # no zone: botocore reads it as UTC
    "1775030400",  # epoch seconds, as text
    1775030400.5,  # and as a number
]


@pytest.mark.parametrize("value", SPELLINGS)
def test_every_spelling_reads_as_botocores_parser_reads_it(value: object) -> None:
    ours, botocores = parse_timestamp(value), botocore.utils.parse_timestamp(value)
    assert ours == botocores
    assert ours.utcoffset() == botocores.utcoffset()
    assert ours.isoformat() == botocores.isoformat()  # the report's text does not change


def test_a_wrong_value_is_refused_as_botocore_refuses_it() -> None:
    with pytest.raises(ValueError):
        botocore.utils.parse_timestamp("not a time")
    with pytest.raises(ValueError):
        parse_timestamp("not a time")


def test_the_client_reads_the_answers_timestamps_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[object] = []

    def recording(value: object) -> datetime.datetime:
        read.append(value)
        return parse_timestamp(value)

    monkeypatch.setattr(omics, "parse_timestamp", recording)
    client = omics_client(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    service = HealthOmics()
    with service.serving(client):
        started = client.start_run_batch(
            requestId="r",
            defaultRunSetting={"workflowId": "1", "roleArn": "arn:aws:iam::123456789012:role/run"},
            batchRunSettings={"inlineSettings": [{"runSettingId": "s1"}]},
        )
        created = client.get_batch(batchId=started["id"])["creationTime"]
    assert isinstance(created, datetime.datetime) and created.tzinfo is not None
    assert created == service.batches[started["id"]].created
    assert read == [created.isoformat()]  # the wire's text, read by ours
