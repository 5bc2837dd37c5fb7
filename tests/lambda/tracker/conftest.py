"""Fixtures for the tracker function's tests: real botocore clients, stubbed or in moto.

Every client is checked against botocore's model: omics and Step Functions under a
Stubber (moto has no omics, and the history must be exactly what the test says), S3 in
moto's memory (so the tests read back the files written), EventBridge and SNS under a
Stubber whose calls are captured for inspection. No test here imports aws_cdk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws
from tracker_testkit import CREDENTIALS, REPORT_BUCKET, SETTINGS_BUCKET, Recorded, StubbedClient

from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.omics import omics_client
from tests.standin.healthomics import HealthOmics

# One attempt: a stubbed error is final, as botocore's exhausted retries would leave it.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="session")
def omics_raw() -> Any:
    """The function's own omics client factory (its shipped model), built once."""
    return omics_client(**CREDENTIALS, config=NO_RETRIES)


@pytest.fixture(scope="session")
def sfn_raw() -> Any:
    return boto3.client("stepfunctions", **CREDENTIALS, config=NO_RETRIES)


@pytest.fixture(scope="session")
def events_raw() -> Any:
    return boto3.client("events", **CREDENTIALS, config=NO_RETRIES)


@pytest.fixture(scope="session")
def sns_raw() -> Any:
    return boto3.client("sns", **CREDENTIALS, config=NO_RETRIES)


@pytest.fixture
def omics(omics_raw: Any) -> Iterator[StubbedClient]:
    with StubbedClient(omics_raw) as stubbed:
        yield stubbed


@pytest.fixture
def sfn(sfn_raw: Any) -> Iterator[StubbedClient]:
    with StubbedClient(sfn_raw) as stubbed:
        yield stubbed


@pytest.fixture
def events(events_raw: Any) -> Iterator[StubbedClient]:
    with StubbedClient(events_raw) as stubbed:
        yield stubbed


@pytest.fixture
def sns(sns_raw: Any) -> Iterator[StubbedClient]:
    with StubbedClient(sns_raw) as stubbed:
        yield stubbed


@pytest.fixture(scope="module")
def s3_buckets() -> Iterator[Any]:
    """moto's S3 with the report and settings buckets, for one test module.

    Started once a module (it costs about 0.2 s), and stopped before other modules run.
    """
    with mock_aws():
        client = boto3.client("s3", **CREDENTIALS)
        for bucket in (REPORT_BUCKET, SETTINGS_BUCKET):
            client.create_bucket(Bucket=bucket)
        yield client


@pytest.fixture
def s3(s3_buckets: Any) -> Iterator[Any]:
    """The S3 client, with both buckets emptied after each test."""
    yield s3_buckets
    for bucket in (REPORT_BUCKET, SETTINGS_BUCKET):
        for item in s3_buckets.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3_buckets.delete_object(Bucket=bucket, Key=item["Key"])


@pytest.fixture
def clients(omics: StubbedClient, sfn: StubbedClient, events: StubbedClient, sns: StubbedClient, s3: Any) -> Clients:
    """The function's Clients, every one given (none is made from the environment)."""
    return Clients(omics=omics.client, stepfunctions=sfn.client, events=events.client, sns=sns.client, s3=s3)


@pytest.fixture
def published(events: StubbedClient, sns: StubbedClient) -> Recorded:
    """The PutEvents and Publish calls' parameters, as sent."""
    return Recorded(events, sns)


@pytest.fixture
def service(omics_raw: Any, s3: Any) -> Iterator[HealthOmics]:
    """The HealthOmics stand-in, reading settings files from moto's S3 as the service would."""
    standin = HealthOmics(s3=s3)
    with standin.serving(omics_raw):
        yield standin


@pytest.fixture
def cohort_clients(
    service: HealthOmics, omics_raw: Any, s3: Any, sfn: StubbedClient, events: StubbedClient, sns: StubbedClient
) -> Clients:
    """The function's Clients with the stand-in as HealthOmics."""
    return Clients(omics=omics_raw, stepfunctions=sfn.client, events=events.client, sns=sns.client, s3=s3)
