"""is_complete starts the batch's tracking execution once the batch has passed validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from provider_testkit import (
    ACCOUNT,
    BATCH_ID,
    REGION,
    FakeContext,
    StubbedOmics,
    cfn_properties,
    make_event,
    started_event,
)

from omics_common import contract
from omics_common.clients import Clients
from omics_common.errors import RunBatchResourceError
from provider import index

TRACKER = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Tracker"


@pytest.fixture
def states() -> Iterator[Stubber]:
    client = boto3.client(
        "stepfunctions",
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def tracked_event() -> dict[str, Any]:
    properties = cfn_properties(**{contract.PROP_TRACKER_ARN: TRACKER})
    return started_event(make_event("Create", properties))


def expect_start(states: Stubber) -> None:
    states.add_response(
        "start_execution",
        {"executionArn": f"{TRACKER}:batch-{BATCH_ID}".replace("stateMachine", "execution"), "startDate": 0},
        {"stateMachineArn": TRACKER, "name": f"batch-{BATCH_ID}", "input": f'{{"batchId": "{BATCH_ID}"}}'},
    )


def test_started_batch_starts_its_tracker_named_after_it(
    omics: StubbedOmics, states: Stubber, context: FakeContext
) -> None:
    omics.get("SUBMITTING")
    expect_start(states)

    assert index.is_complete(
        tracked_event(), context, clients=Clients(omics=omics.client, stepfunctions=states.client)
    )["IsComplete"]


def test_a_tracker_already_running_for_the_batch_is_fine(
    omics: StubbedOmics, states: Stubber, context: FakeContext
) -> None:
    omics.get("INPROGRESS")
    states.add_client_error("start_execution", "ExecutionAlreadyExists", "exists")

    assert index.is_complete(
        tracked_event(), context, clients=Clients(omics=omics.client, stepfunctions=states.client)
    )["IsComplete"]


def test_throttled_start_polls_again(omics: StubbedOmics, states: Stubber, context: FakeContext) -> None:
    omics.get("SUBMITTING")
    states.add_client_error("start_execution", "ThrottlingException", "slow down", http_status_code=400)

    assert index.is_complete(
        tracked_event(), context, clients=Clients(omics=omics.client, stepfunctions=states.client)
    ) == {"IsComplete": False}


def test_denied_start_fails_the_deploy_with_the_reason(
    omics: StubbedOmics, states: Stubber, context: FakeContext
) -> None:
    omics.get("SUBMITTING")
    states.add_client_error("start_execution", "AccessDeniedException", "not allowed", http_status_code=400)

    with pytest.raises(RunBatchResourceError, match=f"StartExecution of batch-{BATCH_ID} failed .*AccessDenied"):
        index.is_complete(tracked_event(), context, clients=Clients(omics=omics.client, stepfunctions=states.client))


def test_no_tracker_while_the_batch_is_validating(omics: StubbedOmics, states: Stubber, context: FakeContext) -> None:
    omics.get("PENDING")  # and no StartExecution queued: the Stubber would fail on one

    assert not index.is_complete(
        tracked_event(), context, clients=Clients(omics=omics.client, stepfunctions=states.client)
    )["IsComplete"]


def test_tracking_switched_on_for_a_deployed_batch_starts_at_once(
    omics: StubbedOmics, states: Stubber, context: FakeContext
) -> None:
    old = cfn_properties()
    new = cfn_properties(**{contract.PROP_TRACKER_ARN: TRACKER})
    event = make_event("Update", new, old=old, physical_id=BATCH_ID)
    omics.get("INPROGRESS")  # on_event reports the attributes; nothing is restarted
    expect_start(states)

    result = index.on_event(event, context, clients=Clients(omics=omics.client))
    assert result["PhysicalResourceId"] == BATCH_ID
    assert index.is_complete(
        {**event, **result}, context, clients=Clients(omics=omics.client, stepfunctions=states.client)
    ) == {"IsComplete": True}


def test_an_unchanged_tracker_is_not_started_again(omics: StubbedOmics, states: Stubber, context: FakeContext) -> None:
    properties = cfn_properties(**{contract.PROP_TRACKER_ARN: TRACKER})
    event = make_event("Update", {**properties, "OnDelete": "CANCEL_RUNS"}, old=properties, physical_id=BATCH_ID)
    omics.get("INPROGRESS")

    result = index.on_event(event, context, clients=Clients(omics=omics.client))
    # The Stubber has no StartExecution queued: a call would fail the test.
    assert index.is_complete(
        {**event, **result}, context, clients=Clients(omics=omics.client, stepfunctions=states.client)
    ) == {"IsComplete": True}
