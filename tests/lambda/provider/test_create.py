"""Create: one StartRunBatch, typed by the model, idempotent per definition, judged by GetBatch."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from provider_testkit import (
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
    started_event,
)

import omics_common.clients
from omics_common import contract
from omics_common.clients import Clients
from omics_common.errors import RunBatchResourceError
from provider import batch, index


def start_params(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The StartRunBatch request ``cfn_properties()`` should become."""
    params: dict[str, Any] = {
        "requestId": batch.request_id(batch.definition_token(event), 0),
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
    omics.get("PENDING")

    before = time.time()
    result = index.on_event(event, context, clients=Clients(omics=omics.client))

    started_at = float(result["Data"].pop(contract.DATA_STARTED_AT))
    assert result == {
        "PhysicalResourceId": BATCH_ID,
        "Data": {
            contract.ATTR_BATCH_ID: BATCH_ID,
            contract.ATTR_BATCH_ARN: BATCH_ARN,
            contract.ATTR_BATCH_UUID: BATCH_UUID,
            contract.ATTR_STATUS: "PENDING",  # GetBatch's, not StartRunBatch's CREATING
            contract.DATA_GENERATION: "0",
        },
    }
    assert before <= started_at <= time.time()
    assert len(json.dumps(result)) < 1024  # the whole CloudFormation response must stay < 4 KB


def test_create_from_s3_settings_without_name_or_tags(omics: StubbedOmics, context: FakeContext) -> None:
    properties = cfn_properties(BatchRunSettings={"s3UriSettings": "s3://settings/runs-0a1b2c.json"})
    del properties["BatchName"], properties["Tags"]
    event = make_event("Create", properties)
    params = start_params(event, batchRunSettings={"s3UriSettings": "s3://settings/runs-0a1b2c.json"})
    del params["batchName"], params["tags"]
    omics.start(params)
    omics.get("PENDING")

    assert index.on_event(event, context, clients=Clients(omics=omics.client))["PhysicalResourceId"] == BATCH_ID


def test_redelivered_create_reuses_the_request_id(omics: StubbedOmics, context: FakeContext) -> None:
    """The same request twice asks for the same batch; the service returns it, not a second one."""
    event = make_event("Create", cfn_properties())
    redelivered = make_event("Create", cfn_properties())
    omics.start(start_params(event))
    omics.get("PENDING")
    omics.start(start_params(event))
    omics.get("PENDING")

    first = index.on_event(event, context, clients=Clients(omics=omics.client))
    second = index.on_event(redelivered, context, clients=Clients(omics=omics.client))

    assert first["PhysicalResourceId"] == second["PhysicalResourceId"] == BATCH_ID


def test_request_id_is_per_definition_and_generation_and_within_limits() -> None:
    event = make_event("Create", cfn_properties(), request_id="request-1")
    token = batch.definition_token(event)

    # Another request for the same definition (a re-delivery, a rollback) gets the same batch.
    assert token == batch.definition_token(make_event("Create", cfn_properties(), request_id="request-2"))
    assert token == batch.definition_token(make_event("Update", cfn_properties(), old=cfn_properties(BatchName="x")))
    # Changes that do not define the batch do not change the token either.
    assert token == batch.definition_token(make_event("Create", {**cfn_properties(), "OnDelete": "CANCEL_RUNS"}))
    assert token != batch.definition_token(make_event("Create", cfn_properties(BatchName="other")))
    assert token != batch.definition_token({**event, "LogicalResourceId": "OtherBatch"})
    assert token != batch.definition_token({**event, "StackId": event["StackId"] + "-2"})
    # Generation 0 is the definition's token as earlier releases sent it; each later one is new.
    tokens = [batch.request_id(token, generation) for generation in range(batch.MAX_GENERATIONS + 1)]
    assert tokens[0] == token
    assert len(set(tokens)) == len(tokens)
    assert all(1 <= len(t) <= 128 for t in tokens)


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
        index.on_event(event, context, clients=Clients(omics=omics.client))

    reason = str(raised.value)
    assert reason.startswith(f"StartRunBatch failed: {code}: Workflow 9876543 is not ACTIVE")
    assert context.log_group_name in reason and context.log_stream_name in reason


def test_long_service_messages_are_cut_to_fit(omics: StubbedOmics, context: FakeContext) -> None:
    event = make_event("Create", cfn_properties())
    omics.error("start_run_batch", "ValidationException", start_params(event), message="x" * 2000)

    with pytest.raises(RunBatchResourceError) as raised:
        index.on_event(event, context, clients=Clients(omics=omics.client))

    reason = str(raised.value)
    assert "x..." in reason
    # What CloudFormation shows first: operation, code, the message's start; then the log.
    assert len(reason) - len(context.log_group_name) - len(context.log_stream_name) < 250


def test_unsupported_schema_version_fails_without_a_call(omics: StubbedOmics, context: FakeContext) -> None:
    event = make_event("Create", cfn_properties(SchemaVersion="9"))

    with pytest.raises(RunBatchResourceError, match=r"SchemaVersion '9' is not supported"):
        index.on_event(event, context, clients=Clients(omics=omics.client))


def test_unknown_member_is_rejected_by_botocore_before_any_call(client: Any, context: FakeContext) -> None:
    """Unknown keys pass through the conversion so that botocore names them."""

    def no_request_may_leave(**_: Any) -> None:
        raise AssertionError("a request was sent")

    properties = cfn_properties()
    properties["DefaultRunSetting"]["workflowID"] = "typo"
    client.meta.events.register("before-send.omics.StartRunBatch", no_request_may_leave)
    try:
        with pytest.raises(RunBatchResourceError, match=r"ParamValidationError: .*workflowID"):
            index.on_event(make_event("Create", properties), context, clients=Clients(omics=client))
    finally:
        client.meta.events.unregister("before-send.omics.StartRunBatch", no_request_may_leave)


def test_response_url_is_never_logged(
    omics: StubbedOmics, context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    event = make_event("Create", cfn_properties())
    omics.start(start_params(event))
    omics.get("PENDING")

    with caplog.at_level(logging.INFO):
        index.on_event(event, context, clients=Clients(omics=omics.client))

    assert "cohort-a" in caplog.text  # the event is logged...
    assert RESPONSE_URL not in caplog.text and "SECRET-SIGNATURE" not in caplog.text  # ...without it


def test_the_container_makes_its_clients_once(monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    """As the tracker does: one Clients per container, each client made when first asked for."""
    made: list[Any] = []

    def make() -> Any:
        made.append(client)
        return client

    monkeypatch.setattr(index, "_clients", None)
    monkeypatch.setitem(omics_common.clients._FACTORIES, "omics", make)

    first = index.container_clients()
    assert first is index.container_clients()
    assert first.omics is client and first.omics is client
    assert made == [client]


def test_deploy_fails_when_the_batchs_own_timeout_runs_out(omics: StubbedOmics, context: FakeContext) -> None:
    """One provider serves every batch for up to an hour; each batch's timeout is its own."""
    event = make_event("Create", cfn_properties(TimeoutSeconds="120"))
    omics.start(start_params(event))
    omics.get("PENDING")
    started = index.on_event(event, context, clients=Clients(omics=omics.client))
    omics.get("PENDING")
    omics.get("PENDING")

    waiting = {**event, **started}
    assert index.is_complete(waiting, context, clients=Clients(omics=omics.client)) == {"IsComplete": False}
    late = started_event(event, seconds_ago=121)
    with pytest.raises(RunBatchResourceError, match=f"Batch {BATCH_ID} was still validating when the deploy's timeout"):
        index.is_complete(late, context, clients=Clients(omics=omics.client))
