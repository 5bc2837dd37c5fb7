"""Fixtures for the provider's handler tests: a real omics client under a Stubber or the stand-in.

The client is built by the handler's own ``omics_client()``, so the Stubber checks
every request against the same botocore model the function ships with (wrong member
names and types fail the test). Handler tests never import aws_cdk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.stub import Stubber
from provider_testkit import REGION, FakeContext, StubbedOmics

from omics_common.omics import omics_client
from tests.standin.healthomics import HealthOmics


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
