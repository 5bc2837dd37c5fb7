"""Create: one StartRunBatch, typed by the model, idempotent per CloudFormation request."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from omics_common import contract
from omics_common.errors import RunBatchResourceError
from run_batch import batch, index
from run_batch_testkit import (
    BATCH_ARN,
    BATCH_ID,
    BATCH_UUID,
    RESPONSE_URL,
    FakeContext,
    StubbedOmics,
    api_batch_run_settings,
    api_default_run_setting,
    cfn_properties,
    make_event,
)


def start_params(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The StartRunBatch request ``cfn_properties()`` should become."""
    params: dict[str, Any] = {
        "requestId": batch.request_id(event),
        "batchName": "cohort-a",
        "defaultRunSetting": api_default_run_setting(),
        "batchRunSettings": api_batch_run_settings(),
        "tags": {"team": "genomics"},
    }
    params.update(overrides)
    return params


def test_create_starts_one_typed_batch(omics: StubbedOmics, context: FakeContext) -> None:
    event = make_event("Create", cfn_properties())
    omics.start(start_params(event))

    before = time.time()
    result = index.on_event(event, context, client=omics.client)

    wait_until = int(result["Data"].pop(contract.DATA_WAIT_UNTIL))
    assert result == {
        "PhysicalResourceId": BATCH_ID,
        "Data": {
            contract.ATTR_BATCH_ID: BATCH_ID,
            contract.ATTR_BATCH_ARN: BATCH_ARN,
            contract.ATTR_BATCH_UUID: BATCH_UUID,
            contract.ATTR_STATUS: "CREATING",
        },
    }
    # No TimeoutSeconds property (a stack of an older release): the framework's hour.
    assert before + 3600 - 1 <= wait_until <= time.time() + 3600
    assert len(json.dumps(result)) < 1024  # the whole CloudFormation response must stay < 4 KB


def test_create_from_s3_settings_without_name_or_tags(omics: StubbedOmics, context: FakeContext) -> None:
    properties = cfn_properties(BatchRunSettings={"s3UriSettings": "s3://settings/runs-0a1b2c.json"})
    del properties["BatchName"], properties["Tags"]
    event = make_event("Create", properties)
    params = start_params(event, batchRunSettings={"s3UriSettings": "s3://settings/runs-0a1b2c.json"})
    del params["batchName"], params["tags"]
    omics.start(params)

    assert index.on_event(event, context, client=omics.client)["PhysicalResourceId"] == BATCH_ID


def test_redelivered_create_reuses_the_request_id(omics: StubbedOmics, context: FakeContext) -> None:
    """The same request twice asks for the same batch; the service returns it, not a second one."""
    event = make_event("Create", cfn_properties())
    redelivered = make_event("Create", cfn_properties())
    omics.start(start_params(event))
    omics.start(start_params(event))

    first = index.on_event(event, context, client=omics.client)
    second = index.on_event(redelivered, context, client=omics.client)

    assert first == second


def test_request_id_is_per_definition_and_within_limits() -> None:
    event = make_event("Create", cfn_properties(), request_id="request-1")
    token = batch.request_id(event)

    # Another request for the same definition (a re-delivery, a rollback) gets the same batch.
    assert token == batch.request_id(make_event("Create", cfn_properties(), request_id="request-2"))
    assert token == batch.request_id(make_event("Update", cfn_properties(), old=cfn_properties(BatchName="x")))
    # Changes that do not define the batch do not change the token either.
    assert token == batch.request_id(make_event("Create", {**cfn_properties(), "OnDelete": "CANCEL_RUNS"}))
    assert token != batch.request_id(make_event("Create", cfn_properties(BatchName="other")))
    assert token != batch.request_id({**event, "LogicalResourceId": "OtherBatch"})
    assert token != batch.request_id({**event, "StackId": event["StackId"] + "-2"})
    assert 1 <= len(token) <= 128


@pytest.mark.parametrize(
    ("code", "status"),
    [("ValidationException", 400), ("AccessDeniedException", 403), ("ServiceQuotaExceededException", 402)],
)
def test_create_failure_reason_names_operation_code_message_and_log(
    omics: StubbedOmics, context: FakeContext, code: str, status: int
) -> None:
    event = make_event("Create", cfn_properties())
    omics.error(
        "start_run_batch",
        code,
        start_params(event),
        http_status=status,
        message="Workflow 9876543 is not ACTIVE",
    )

    with pytest.raises(RunBatchResourceError) as raised:
        index.on_event(event, context, client=omics.client)

    reason = str(raised.value)
    assert reason.startswith(f"StartRunBatch failed: {code}: Workflow 9876543 is not ACTIVE")
    assert context.log_group_name in reason and context.log_stream_name in reason


def test_long_service_messages_are_cut_to_fit(omics: StubbedOmics, context: FakeContext) -> None:
    event = make_event("Create", cfn_properties())
    omics.error("start_run_batch", "ValidationException", start_params(event), message="x" * 2000)

    with pytest.raises(RunBatchResourceError) as raised:
        index.on_event(event, context, client=omics.client)

    reason = str(raised.value)
    assert "x..." in reason
    # What CloudFormation shows first: operation, code, the message's start; then the log.
    assert len(reason) - len(context.log_group_name) - len(context.log_stream_name) < 250


def test_unsupported_schema_version_fails_without_a_call(omics: StubbedOmics, context: FakeContext) -> None:
    event = make_event("Create", cfn_properties(SchemaVersion="9"))

    with pytest.raises(RunBatchResourceError, match=r"SchemaVersion '9' is not supported"):
        index.on_event(event, context, client=omics.client)


def test_unknown_member_is_rejected_by_botocore_before_any_call(client: Any, context: FakeContext) -> None:
    """Unknown keys pass through the conversion so that botocore names them."""

    def no_request_may_leave(**_: Any) -> None:
        raise AssertionError("a request was sent")

    properties = cfn_properties()
    properties["DefaultRunSetting"]["workflowID"] = "typo"
    client.meta.events.register("before-send.omics.StartRunBatch", no_request_may_leave)
    try:
        with pytest.raises(RunBatchResourceError, match=r"ParamValidationError: .*workflowID"):
            index.on_event(make_event("Create", properties), context, client=client)
    finally:
        client.meta.events.unregister("before-send.omics.StartRunBatch", no_request_may_leave)


def test_response_url_is_never_logged(
    omics: StubbedOmics, context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    event = make_event("Create", cfn_properties())
    omics.start(start_params(event))

    with caplog.at_level(logging.INFO):
        index.on_event(event, context, client=omics.client)

    assert "cohort-a" in caplog.text  # the event is logged...
    assert RESPONSE_URL not in caplog.text and "SECRET-SIGNATURE" not in caplog.text  # ...without it


def test_the_lambda_client_is_made_once(monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    made: list[Any] = []

    def make() -> Any:
        made.append(client)
        return client

    monkeypatch.setattr(index, "_client", None)
    monkeypatch.setattr(index, "omics_client", make)

    assert index.default_client() is client
    assert index.default_client() is client
    assert made == [client]


def test_deploy_fails_when_the_batchs_own_timeout_runs_out(omics: StubbedOmics, context: FakeContext) -> None:
    """One provider serves every batch for up to an hour; each batch's timeout is its own."""
    event = make_event("Create", cfn_properties(TimeoutSeconds="120"))
    omics.start(start_params(event))
    started = index.on_event(event, context, client=omics.client)
    assert int(started["Data"][contract.DATA_WAIT_UNTIL]) <= time.time() + 120
    omics.get("PENDING")
    omics.get("PENDING")

    waiting = {**event, **started}
    assert index.is_complete(waiting, context, client=omics.client) == {"IsComplete": False}
    late = {**waiting, "Data": {**started["Data"], contract.DATA_WAIT_UNTIL: str(int(time.time()) - 1)}}
    with pytest.raises(RunBatchResourceError, match=f"Batch {BATCH_ID} was still validating when the deploy's timeout"):
        index.is_complete(late, context, client=omics.client)


@pytest.mark.parametrize(("seconds_ago", "fails"), [(30, False), (300, True)])
def test_a_batch_not_found_is_waited_for_briefly_then_fails_clearly(
    omics: StubbedOmics, context: FakeContext, seconds_ago: int, fails: bool
) -> None:
    """Right after StartRunBatch a batch may not be readable yet; minutes later it is gone for good."""
    properties = cfn_properties(TimeoutSeconds="1800")
    started = {
        "PhysicalResourceId": BATCH_ID,
        "Data": {contract.DATA_WAIT_UNTIL: str(int(time.time()) + 1800 - seconds_ago)},
    }
    event = {**make_event("Create", properties), **started}
    omics.stubber.add_client_error(
        "get_batch", "ResourceNotFoundException", "no such batch", 404, {"batchId": BATCH_ID}
    )

    if fails:
        with pytest.raises(RunBatchResourceError, match=f"Batch {BATCH_ID} does not exist: .*Change batch_name"):
            index.is_complete(event, context, client=omics.client)
    else:
        assert index.is_complete(event, context, client=omics.client) == {"IsComplete": False}
