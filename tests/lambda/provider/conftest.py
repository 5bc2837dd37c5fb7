"""Fixtures for the provider's handler tests: a real omics client under a Stubber or the stand-in.

The client is built by the handler's own ``omics_client()``, so the Stubber checks
every request against the same botocore model the function ships with (wrong member
names and types fail the test). Handler tests never import aws_cdk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws
from provider_testkit import ACCOUNT, OUTPUT_BUCKET, REGION, FakeContext, StubbedOmics

from omics_batch_construct_runtime.omics import omics_client
from tests.standin.healthomics import HealthOmics
from tests.standin.quotas import ServiceQuotas, quotas_client

CREDENTIALS = {"region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "y"}


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture(scope="session")
def client() -> Any:
    """A real client from the handler's factory; no retries, so error tests stay fast.

    One for the session (each costs about 0.1 s to build); every test stubs it anew.
    """
    return omics_client(
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture
def omics(client: Any) -> Iterator[StubbedOmics]:
    """The stubbed client; every queued response must have been used by the end."""
    with Stubber(client) as stubber:
        yield StubbedOmics(client, stubber)
        stubber.assert_no_pending_responses()


@pytest.fixture
def service(client: Any) -> Iterator[HealthOmics]:
    """The HealthOmics stand-in answering the client: a service that remembers its batches."""
    standin = HealthOmics()
    with standin.serving(client):
        yield standin


@pytest.fixture(scope="session")
def quotas_api() -> Any:
    """A real Service Quotas client; a stand-in answers it (``quotas``)."""
    return quotas_client()


@pytest.fixture
def quotas(quotas_api: Any) -> Iterator[ServiceQuotas]:
    """Service Quotas, listing the run quota at its default of 100,000 (tests may change it)."""
    standin = ServiceQuotas()
    with standin.serving(quotas_api):
        yield standin


@dataclass
class Aws:
    """moto's S3 (with the output bucket) and Step Functions (with the tracking state machine, whose
    executions stay RUNNING until stopped: moto does not run them here)."""

    s3: Any
    sfn: Any
    machine: str


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        s3 = boto3.client("s3", **CREDENTIALS)
        s3.create_bucket(Bucket=OUTPUT_BUCKET)
        sfn = boto3.client("stepfunctions", **CREDENTIALS)
        machine = sfn.create_state_machine(
            name="Tracker",
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/tracker",
        )["stateMachineArn"]
        yield Aws(s3, sfn, machine)
