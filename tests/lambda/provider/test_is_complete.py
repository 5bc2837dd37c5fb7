"""is_complete after a Create: wait for validation, fail on FAILED, never crash on news."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from provider_testkit import (
    BATCH_ARN,
    BATCH_ID,
    BATCH_UUID,
    FakeContext,
    StubbedOmics,
    cfn_properties,
    make_event,
    started_event,
)

from omics_batch_construct_runtime import contract, lifecycle
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import RunBatchResourceError
from provider import index


def created_event() -> dict[str, Any]:
    """The event is_complete gets after on_event started batch BATCH_ID."""
    return started_event(make_event("Create", cfn_properties()))


def complete(event: dict[str, Any], status: str) -> dict[str, Any]:
    """is_complete's answer to ``event`` once BATCH_ID is past validation in ``status``."""
    return {
        "IsComplete": True,
        "PhysicalResourceId": BATCH_ID,
        "Data": {
            contract.ATTR_BATCH_ID: BATCH_ID,
            contract.ATTR_BATCH_ARN: BATCH_ARN,
            contract.ATTR_BATCH_UUID: BATCH_UUID,
            contract.ATTR_STATUS: status,
            contract.DATA_STARTED_AT: event["Data"][contract.DATA_STARTED_AT],
        },
    }


@pytest.mark.parametrize("status", sorted(lifecycle.VALIDATING))
def test_validating_batch_is_not_complete(omics: StubbedOmics, context: FakeContext, status: str) -> None:
    omics.get(status)

    # No Data while not complete: the framework refuses it.
    assert index.is_complete(created_event(), context, clients=Clients(omics=omics.client)) == {"IsComplete": False}


@pytest.mark.parametrize("status", ["SUBMITTING", "INPROGRESS", "PROCESSED"])
def test_batch_past_validation_is_complete_with_fresh_attributes(
    omics: StubbedOmics, context: FakeContext, status: str
) -> None:
    omics.get(status)
    event = created_event()

    assert index.is_complete(event, context, clients=Clients(omics=omics.client)) == complete(event, status)


@pytest.mark.parametrize("status", sorted(lifecycle.DEAD - {"FAILED"}))
def test_batch_stopped_while_the_deploy_waits_fails_the_deploy(
    omics: StubbedOmics, context: FakeContext, status: str
) -> None:
    """This deploy's own batch cancelled (or its runs deleted) under it: the stack's runs will not run."""
    omics.get(status)

    with pytest.raises(RunBatchResourceError, match=f"^Batch {BATCH_ID} is {status}: it was stopped while the deploy"):
        index.is_complete(created_event(), context, clients=Clients(omics=omics.client))


def test_failed_batch_fails_the_deploy_with_the_service_reason(omics: StubbedOmics, context: FakeContext) -> None:
    omics.get("FAILED", failureReason="Expected 50 unique runSettingIds but there were 49")

    with pytest.raises(RunBatchResourceError) as raised:
        index.is_complete(created_event(), context, clients=Clients(omics=omics.client))

    reason = str(raised.value)
    assert reason.startswith(f"Batch {BATCH_ID} FAILED: Expected 50 unique runSettingIds but there were 49")
    assert context.log_group_name in reason and context.log_stream_name in reason


def test_unknown_status_waits_with_a_warning(
    omics: StubbedOmics, context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    omics.get("QUEUED_FOR_SOMETHING_NEW")

    with caplog.at_level(logging.WARNING):
        result = index.is_complete(created_event(), context, clients=Clients(omics=omics.client))

    assert result == {"IsComplete": False}
    assert "QUEUED_FOR_SOMETHING_NEW" in caplog.text


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 429),
        ("InternalServerException", 500),
        ("ResourceNotFoundException", 404),  # not visible yet
        ("AccessDeniedException", 403),  # IAM still propagating
    ],
)
def test_a_batch_that_cannot_be_read_now_means_poll_again(
    omics: StubbedOmics, context: FakeContext, code: str, status: int
) -> None:
    omics.error("get_batch", code, http_status=status)

    assert index.is_complete(created_event(), context, clients=Clients(omics=omics.client)) == {"IsComplete": False}


def test_a_batch_not_found_past_the_grace_fails_the_deploy_and_starts_nothing(
    omics: StubbedOmics, context: FakeContext
) -> None:
    omics.error("get_batch", "ResourceNotFoundException", http_status=404)
    late = started_event(make_event("Create", cfn_properties()), seconds_ago=contract.NOT_VISIBLE_GRACE_SECONDS + 1)

    with pytest.raises(
        RunBatchResourceError, match=f"^Batch {BATCH_ID} does not exist: it was deleted while the deploy"
    ):
        index.is_complete(late, context, clients=Clients(omics=omics.client))


def test_every_status_in_the_model_is_classified(client: Any) -> None:
    """A status the model adds must be placed in a group here (until then it means "wait")."""
    model_statuses = set(client.meta.service_model.shape_for("BatchStatus").enum)

    assert model_statuses <= lifecycle.KNOWN
    assert lifecycle.VALIDATING <= model_statuses
    assert lifecycle.DEAD | lifecycle.STARTED | lifecycle.VALIDATING == lifecycle.KNOWN


def test_network_failure_means_poll_again(client: Any, context: FakeContext) -> None:
    """A connection error that outlived botocore's retries is as transient as a 503."""

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://workflows-omics.us-east-1.amazonaws.com")

    client.meta.events.register("before-send.omics.GetBatch", unreachable)
    try:
        assert index.is_complete(created_event(), context, clients=Clients(omics=client)) == {"IsComplete": False}
    finally:
        client.meta.events.unregister("before-send.omics.GetBatch", unreachable)
