"""Fixtures for the run batch handler tests: a real omics client under a Stubber.

The client is built by the handler's own ``omics_client()``, so the Stubber checks
every request against the same botocore model the function ships with (wrong member
names and types fail the test). Handler tests never import aws_cdk.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The handler's code as in its asset; run_batch_testkit; the repository (tests.standin).
for path in (ROOT / "lambda", HERE, ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from botocore.config import Config  # noqa: E402
from botocore.stub import Stubber  # noqa: E402
from omics_common.omics import omics_client  # noqa: E402
from run_batch_testkit import REGION, FakeContext, StubbedOmics  # noqa: E402

from tests.standin.healthomics import HealthOmics  # noqa: E402


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
