"""Create: one StartRunBatch, typed by the model, idempotent per definition, judged by GetBatch."""

from __future__ import annotations

import copy
import json
import logging
import time
from typing import Any

import pytest
from provider_testkit import (
    ACCOUNT,
    BATCH_ARN,
    BATCH_ID,
    BATCH_UUID,
    RESPONSE_URL,
    FakeContext,
    StubbedOmics,
    api_batch_run_settings,
    api_default_run_setting,
    cfn_properties,
    clients,
    make_event,
    started_event,
)

import omics_batch_construct_runtime.clients
from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import RunBatchResourceError
from provider import batch, index
from tests.standin.healthomics import HealthOmics

KEY_TAG = contract.DEFINITION_TAG


def start_params(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The StartRunBatch request ``cfn_properties()`` should become."""
    key = batch.definition_key(event)
    params: dict[str, Any] = {
        "requestId": batch.request_id(key, event["RequestId"]),
        "batchName": "cohort-a",
        "defaultRunSetting": api_default_run_setting(),
        "batchRunSettings": api_batch_run_settings(),
        "tags": {"team": "genomics", KEY_TAG: key},
    }
    params.update(overrides)
    return params


def test_create_looks_for_the_definitions_batch_then_starts_one_typed_batch(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any
) -> None:
    event = make_event("Create", cfn_properties())
    omics.listed("cohort-a")  # none of this definition yet
    omics.start(start_params(event))

    before = time.time()
    result = index.on_event(event, context, clients=clients(omics.client, quotas_api))

    started_at = float(result["Data"].pop(contract.DATA_STARTED_AT))
    assert result == {
        "PhysicalResourceId": BATCH_ID,
        "Data": {
            contract.ATTR_BATCH_ID: BATCH_ID,
            contract.ATTR_BATCH_ARN: BATCH_ARN,
            contract.ATTR_BATCH_UUID: BATCH_UUID,
            contract.ATTR_STATUS: "CREATING",
        },
    }
    assert before <= started_at <= time.time()
    assert len(json.dumps(result)) < 1024  # the whole CloudFormation response must stay < 4 KB
    assert quotas.calls == ["ListServiceQuotas", "ListAWSDefaultServiceQuotas"]  # the pre-flight, before the start


def test_without_a_name_the_batch_is_named_after_its_stack_resource_and_key(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any
) -> None:
    properties = cfn_properties(BatchRunSettings={"s3UriSettings": "s3://settings/runs-0a1b2c.json"})
    del properties["BatchName"], properties["Tags"]
    event = make_event("Create", properties)
    key = batch.definition_key(event)
    name = f"demo-CohortBatch1A2B3C4D-{key[:12]}"
    params = start_params(event, batchRunSettings={"s3UriSettings": "s3://settings/runs-0a1b2c.json"})
    params.update(batchName=name, tags={KEY_TAG: key})
    omics.listed(name)
    omics.start(params)

    assert index.on_event(event, context, clients=clients(omics.client, quotas_api))["PhysicalResourceId"] == BATCH_ID
    long = {**event, "LogicalResourceId": "L" * 80}
    assert len(batch.default_batch_name(long, key)) == batch.MAX_BATCH_NAME


def test_a_live_batch_of_the_definition_is_adopted_not_started_again(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any
) -> None:
    event = make_event("Create", cfn_properties())
    key = batch.definition_key(event)
    omics.listed("cohort-a", {"id": "111", "name": "cohort-a"}, {"id": BATCH_ID, "name": "cohort-a"})
    omics.get("INPROGRESS", "111", tags={KEY_TAG: "another definition"})  # a batch of the same name, not ours
    omics.get("INPROGRESS", BATCH_ID, tags={KEY_TAG: key})

    result = index.on_event(event, context, clients=clients(omics.client, quotas_api))

    assert result["PhysicalResourceId"] == BATCH_ID and result["Data"][contract.ATTR_STATUS] == "INPROGRESS"
    assert quotas.calls == []  # no start, no pre-flight


def test_a_batch_of_the_name_that_cannot_be_read_starts_nothing(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any
) -> None:
    """It may be this definition's: a deploy never starts one beside a batch it could not see."""
    event = make_event("Create", cfn_properties())
    omics.listed("cohort-a", {"id": BATCH_ID, "name": "cohort-a"})
    omics.error("get_batch", "ThrottlingException", http_status=400)

    with pytest.raises(RunBatchResourceError, match=f"GetBatch failed for batch {BATCH_ID}: ThrottlingException"):
        index.on_event(event, context, clients=clients(omics.client, quotas_api))


def test_the_definition_key_is_the_stack_name_resource_and_definition() -> None:
    event = make_event("Create", cfn_properties(), request_id="request-1")
    key = batch.definition_key(event)

    # Another request for the same definition (a re-delivery, a rollback) has the same key...
    assert key == batch.definition_key(make_event("Create", cfn_properties(), request_id="request-2"))
    assert key == batch.definition_key(make_event("Update", cfn_properties(), old=cfn_properties(BatchName="x")))
    # ...and so does the same stack created anew: CloudFormation gives it a new StackId.
    recreated = event["StackId"].rsplit("/", 1)[0] + "/99999999-4e5f-6789-abcd-ef0123456789"
    assert key == batch.definition_key({**event, "StackId": recreated})
    # Changes that do not define the batch do not change it either.
    assert key == batch.definition_key(make_event("Create", {**cfn_properties(), "OnDelete": "CANCEL_RUNS"}))
    assert key != batch.definition_key(make_event("Create", cfn_properties(BatchName="other")))
    assert key != batch.definition_key({**event, "LogicalResourceId": "OtherBatch"})
    assert key != batch.definition_key({**event, "StackId": event["StackId"].replace("stack/demo/", "stack/other/")})
    assert key != batch.definition_key({**event, "StackId": event["StackId"].replace(ACCOUNT, "210987654321")})
    # The requestId is the key within one CloudFormation request.
    tokens = {batch.request_id(key, r) for r in ("request-1", "request-2")}
    assert len(tokens) == 2 and all(1 <= len(t) <= 128 for t in tokens)


def test_names_cloudformation_gives_anew_with_the_stack_do_not_change_the_key() -> None:
    """The run role and output bucket the construct made are named anew when the stack is created
    again; their names (``StableNames``) stand for them in the key."""

    def incarnation(role: str, bucket: str) -> dict[str, Any]:
        default = {**cfn_properties()["DefaultRunSetting"], "roleArn": role, "outputUri": f"s3://{bucket}/Cohort/"}
        names = {"RunRole": role, "OutputBucket": bucket}
        return make_event("Create", cfn_properties(DefaultRunSetting=default, StableNames=names))

    first = incarnation(f"arn:aws:iam::{ACCOUNT}:role/demo-CohortRunRole-AAAA", "demo-cohortoutput-1111")
    again = incarnation(f"arn:aws:iam::{ACCOUNT}:role/demo-CohortRunRole-BBBB", "demo-cohortoutput-2222")
    assert batch.definition_key(first) == batch.definition_key(again)
    # A role or bucket given by name is the user's: another one is another definition.
    given = make_event("Create", cfn_properties())
    other = copy.deepcopy(given)
    other["ResourceProperties"]["DefaultRunSetting"]["roleArn"] += "-2"
    assert batch.definition_key(given) != batch.definition_key(other)


@pytest.mark.parametrize(
    ("code", "status"),
    [("ValidationException", 400), ("AccessDeniedException", 403), ("ServiceQuotaExceededException", 402)],
)
def test_create_failure_reason_names_operation_code_message_and_log(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any, code: str, status: int
) -> None:
    event = make_event("Create", cfn_properties())
    omics.listed("cohort-a")
    omics.error(
        "start_run_batch",
        code,
        start_params(event),
        http_status=status,
        message="Workflow 9876543 is not ACTIVE",
    )

    with pytest.raises(RunBatchResourceError) as raised:
        index.on_event(event, context, clients=clients(omics.client, quotas_api))

    reason = str(raised.value)
    assert reason.startswith(f"StartRunBatch failed: {code}: Workflow 9876543 is not ACTIVE")
    assert context.log_group_name in reason and context.log_stream_name in reason


def test_long_service_messages_are_cut_to_fit(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any
) -> None:
    event = make_event("Create", cfn_properties())
    omics.listed("cohort-a")
    omics.error("start_run_batch", "ValidationException", start_params(event), message="x" * 2000)

    with pytest.raises(RunBatchResourceError) as raised:
        index.on_event(event, context, clients=clients(omics.client, quotas_api))

    reason = str(raised.value)
    assert "x..." in reason
    # What CloudFormation shows first: operation, code, the message's start; then the log.
    assert len(reason) - len(context.log_group_name) - len(context.log_stream_name) < 250


def test_unsupported_schema_version_fails_without_a_call(omics: StubbedOmics, context: FakeContext) -> None:
    event = make_event("Create", cfn_properties(SchemaVersion="9"))

    with pytest.raises(RunBatchResourceError, match=r"SchemaVersion '9' is not supported"):
        index.on_event(event, context, clients=Clients(omics=omics.client))


def test_unknown_member_is_rejected_by_botocore_before_any_call(
    client: Any, service: HealthOmics, context: FakeContext, quotas_api: Any, quotas: Any
) -> None:
    """Unknown keys pass through the conversion so that botocore names them."""

    def no_request_may_leave(**_: Any) -> None:
        raise AssertionError("a request was sent")

    properties = cfn_properties()
    properties["DefaultRunSetting"]["workflowID"] = "typo"
    client.meta.events.register("before-send.omics.StartRunBatch", no_request_may_leave)
    try:
        with pytest.raises(RunBatchResourceError, match=r"ParamValidationError: .*workflowID"):
            index.on_event(make_event("Create", properties), context, clients=clients(client, quotas_api))
    finally:
        client.meta.events.unregister("before-send.omics.StartRunBatch", no_request_may_leave)
    assert service.started() == []


def test_response_url_is_never_logged(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any, caplog: pytest.LogCaptureFixture
) -> None:
    event = make_event("Create", cfn_properties())
    omics.listed("cohort-a")
    omics.start(start_params(event))

    with caplog.at_level(logging.INFO):
        index.on_event(event, context, clients=clients(omics.client, quotas_api))

    assert "cohort-a" in caplog.text  # the event is logged...
    assert RESPONSE_URL not in caplog.text and "SECRET-SIGNATURE" not in caplog.text  # ...without it


def test_the_container_makes_its_clients_once(monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    """As the tracker does: one Clients per container, each client made when first asked for."""
    made: list[Any] = []

    def make() -> Any:
        made.append(client)
        return client

    monkeypatch.setattr(index, "_clients", None)
    monkeypatch.setitem(omics_batch_construct_runtime.clients._FACTORIES, "omics", make)

    first = index.container_clients()
    assert first is index.container_clients()
    assert first.omics is client and first.omics is client
    assert made == [client]


def test_deploy_fails_when_the_batchs_own_timeout_runs_out(
    omics: StubbedOmics, context: FakeContext, quotas_api: Any, quotas: Any
) -> None:
    """One provider serves every batch for up to an hour; each batch's timeout is its own."""
    event = make_event("Create", cfn_properties(TimeoutSeconds="120"))
    omics.listed("cohort-a")
    omics.start(start_params(event))
    started = index.on_event(event, context, clients=clients(omics.client, quotas_api))
    omics.get("PENDING")
    omics.error("get_batch", "ThrottlingException", http_status=400, message="Rate exceeded")

    waiting = {**event, **started}
    assert index.is_complete(waiting, context, clients=clients(omics.client, quotas_api)) == {"IsComplete": False}
    late = started_event(event, seconds_ago=121)
    with pytest.raises(
        RunBatchResourceError,
        match=f"Batch {BATCH_ID} was still validating when the deploy's timeout ran out .its last read: "
        "GetBatch failed .*ThrottlingException: Rate exceeded",
    ):
        index.is_complete(late, context, clients=clients(omics.client, quotas_api))
