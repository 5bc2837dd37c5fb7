"""Whenever a deploy ends on a batch, its cohort's tracking runs (or has ended by itself).

A new batch's tracking starts once it has passed validation; a batch a deploy takes back (a
revert to a definition whose cohort a replacement let go, a stack created anew) has its tracking
started again, as a new lineage, its manifest reopened; a cohort whose tracking crashed is
picked up by the next deploy. Never assumed from an execution that merely exists.

HealthOmics is the stand-in; S3 and Step Functions are moto's (executions stay RUNNING until
stopped); the throttled and denied starts use a Stubber.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import Aws
from provider_testkit import ACCOUNT, BATCH_ID, REPORT_URI, FakeContext, cfn_properties, make_event, started_event

from omics_batch_construct_runtime import contract, tracking
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import RunBatchResourceError
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore
from provider import index
from tests.standin.healthomics import HealthOmics

PASS = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'


@pytest.fixture
def clients(client: Any, quotas_api: Any, quotas: Any, aws: Aws) -> Clients:
    return Clients(omics=client, servicequotas=quotas_api, s3=aws.s3, stepfunctions=aws.sfn)


def tracked(aws: Aws, **overrides: Any) -> dict[str, Any]:
    return cfn_properties(**{contract.PROP_TRACKER_ARN: aws.machine, contract.PROP_REPORT_URI: REPORT_URI, **overrides})


def request(request_type: str, properties: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return make_event(request_type, properties, request_id=str(uuid.uuid4()), **kwargs)


def deploy(event: dict[str, Any], service: HealthOmics, clients: Clients, context: FakeContext) -> str:
    """on_event, then is_complete until complete (a new batch passes validation at once); the batch."""
    waiting = {**event, **index.on_event(event, context, clients)}
    batch_id = str(waiting["PhysicalResourceId"])
    if batch_id in service.batches and service.batches[batch_id].status in ("CREATING", "PENDING"):
        service.set_status(batch_id, "SUBMITTING")
    for _ in range(3):
        answer = index.is_complete(waiting, context, clients)
        if answer["IsComplete"]:
            return str(answer.get("PhysicalResourceId", batch_id))
    raise AssertionError("the deploy did not complete")


def executions(aws: Aws) -> dict[str, str]:
    listed = aws.sfn.list_executions(stateMachineArn=aws.machine)["executions"]
    return {e["name"]: e["status"] for e in listed}


def store(aws: Aws, first: str) -> ManifestStore:
    return ManifestStore(aws.s3, CohortLayout(REPORT_URI, first))


def test_a_new_batch_starts_its_tracking_once_validated(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    event = request("Create", tracked(aws))
    waiting = {**event, **index.on_event(event, context, clients)}
    first = waiting["PhysicalResourceId"]
    assert not index.is_complete(waiting, context, clients)["IsComplete"]
    assert executions(aws) == {}  # not while the batch validates

    service.set_status(first, "SUBMITTING")
    assert index.is_complete(waiting, context, clients)["IsComplete"]
    assert index.is_complete(waiting, context, clients)["IsComplete"]  # a retried poll starts no second one

    assert executions(aws) == {f"batch-{first}": "RUNNING"}
    (listed,) = aws.sfn.list_executions(stateMachineArn=aws.machine)["executions"]
    described = aws.sfn.describe_execution(executionArn=listed["executionArn"])
    assert json.loads(described["input"]) == {"batchId": first}


def test_tracking_switched_on_for_a_deployed_batch_starts_at_once(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    first = deploy(request("Create", cfn_properties()), service, clients, context)
    assert executions(aws) == {}

    deploy(request("Update", tracked(aws), old=cfn_properties(), physical_id=first), service, clients, context)

    assert executions(aws) == {f"batch-{first}": "RUNNING"}


def test_a_revert_to_a_definition_whose_cohort_was_let_go_tracks_it_again(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """A, then B (a replacing update; the cleanup deletes A under RETAIN), then A again."""
    a = tracked(aws)
    b = tracked(aws, DefaultRunSetting={**a["DefaultRunSetting"], "storageCapacity": "2400"})  # a new definition
    first_a = deploy(request("Create", a), service, clients, context)
    service.set_status(first_a, "INPROGRESS")
    first_b = deploy(request("Update", b, old=a, physical_id=first_a), service, clients, context)
    cleanup = request("Delete", a, physical_id=first_a)
    index.on_event(cleanup, context, clients)
    assert executions(aws) == {f"batch-{first_a}": "ABORTED", f"batch-{first_b}": "RUNNING"}
    closed = store(aws, first_a).read()
    assert closed is not None and closed.closed is not None  # the stack let A's cohort go

    back = deploy(request("Update", a, old=b, physical_id=first_b), service, clients, context)

    assert back == first_a and len(service.started()) == 2  # A's batch, taken back
    assert executions(aws)[f"batch-{first_a}-r1"] == "RUNNING"  # and followed again
    reopened = store(aws, first_a).read()
    assert reopened is not None and reopened.closed is None


def test_a_crashed_tracking_is_picked_up_by_the_next_deploy(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    properties = tracked(aws)
    first = deploy(request("Create", properties), service, clients, context)
    (execution,) = aws.sfn.list_executions(stateMachineArn=aws.machine)["executions"]
    aws.sfn.stop_execution(executionArn=execution["executionArn"])  # ended, and the manifest is not done

    same = {**properties, "OnDelete": "CANCEL_RUNS"}  # a deploy that changes nothing of the batch
    deploy(request("Update", same, old=properties, physical_id=first), service, clients, context)

    assert executions(aws) == {f"batch-{first}": "ABORTED", f"batch-{first}-r1": "RUNNING"}


def test_a_cohort_whose_tracking_reported_is_not_tracked_again(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    properties = tracked(aws)
    first = deploy(request("Create", properties), service, clients, context)
    (execution,) = aws.sfn.list_executions(stateMachineArn=aws.machine)["executions"]
    aws.sfn.stop_execution(executionArn=execution["executionArn"])
    store(aws, first).update(lambda current: Manifest(first, done=True, result={"succeeded": True}))

    same = {**properties, "OnDelete": "CANCEL_RUNS"}
    deploy(request("Update", same, old=properties, physical_id=first), service, clients, context)

    assert executions(aws) == {f"batch-{first}": "ABORTED"}


def test_lineages_are_numbered_after_every_execution_the_cohort_had() -> None:
    assert tracking.execution_name("42") == "batch-42"
    assert tracking.execution_name("42", 3) == "batch-42-3"
    assert tracking.execution_name("42", 0, 2) == "batch-42-r2"
    assert tracking.Lineage.of("batch-42-r2-7") == tracking.Lineage("42", 2, 7)
    assert tracking.Lineage.of("batch-42-r2-7").next() == "batch-42-r2-8"  # type: ignore[union-attr]
    assert tracking.Lineage.of("batch-42").next() == "batch-42-1"  # type: ignore[union-attr]
    assert tracking.Lineage.of("batch-4-2") == tracking.Lineage("4", 0, 2)
    assert tracking.Lineage.of("something-else") is None


# --- transient and refused starts (a Stubber answers Step Functions) ----------------------------


@pytest.fixture
def states() -> Any:
    client = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:Tracker"


def test_a_throttled_start_polls_again_and_a_denied_one_fails_with_the_reason(
    service: HealthOmics, client: Any, states: Stubber, context: FakeContext
) -> None:
    event = started_event(make_event("Create", cfn_properties(**{contract.PROP_TRACKER_ARN: MACHINE})))
    service.StartRunBatch(
        {
            "requestId": "r",
            "defaultRunSetting": {"workflowId": "1", "roleArn": "a"},
            "batchRunSettings": {"inlineSettings": [{"runSettingId": "s"}]},
        }
    )
    service.set_status(BATCH_ID, "SUBMITTING")
    handler = Clients(omics=client, stepfunctions=states.client)
    listing = {"stateMachineArn": MACHINE, "maxResults": 100}
    states.add_response("list_executions", {"executions": []}, listing)
    states.add_client_error("start_execution", "ThrottlingException", "slow down", http_status_code=400)
    assert index.is_complete(event, context, handler) == {"IsComplete": False}

    states.add_response("list_executions", {"executions": []}, listing)
    states.add_client_error("start_execution", "AccessDeniedException", "not allowed", http_status_code=400)
    with pytest.raises(RunBatchResourceError, match=f"StartExecution failed for batch {BATCH_ID}: AccessDenied"):
        index.is_complete(event, context, handler)


def test_a_stack_created_anew_reopens_the_cohort_its_destroy_closed(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """The new stack's state machine never had an execution of the cohort: the manifest decides."""
    properties = tracked(aws)
    first = deploy(request("Create", properties), service, clients, context)
    service.set_status(first, "INPROGRESS")
    index.on_event(request("Delete", properties, physical_id=first), context, clients)  # RETAIN: closed
    machine = aws.sfn.create_state_machine(
        name="Tracker2", definition=PASS, roleArn=f"arn:aws:iam::{ACCOUNT}:role/tracker"
    )["stateMachineArn"]

    again = deploy(request("Create", {**properties, contract.PROP_TRACKER_ARN: machine}), service, clients, context)

    assert again == first
    reopened = store(aws, first).read()
    assert reopened is not None and reopened.closed is None
    listed = aws.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [(e["name"], e["status"]) for e in listed] == [(f"batch-{first}", "RUNNING")]


def test_a_reported_cohort_is_not_tracked_again_even_when_its_executions_are_forgotten(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """Step Functions forgets closed executions after 90 days; the manifest does not."""
    properties = tracked(aws)
    first = deploy(request("Create", properties), service, clients, context)
    store(aws, first).update(lambda current: Manifest(first, done=True, result={"succeeded": True}))
    machine = aws.sfn.create_state_machine(
        name="Tracker3", definition=PASS, roleArn=f"arn:aws:iam::{ACCOUNT}:role/tracker"
    )["stateMachineArn"]
    moved = {**properties, contract.PROP_TRACKER_ARN: machine}

    deploy(request("Update", moved, old=properties, physical_id=first), service, clients, context)

    assert aws.sfn.list_executions(stateMachineArn=machine)["executions"] == []


def test_a_cohort_let_go_while_an_execution_ran_on_is_reopened(
    service: HealthOmics, clients: Clients, aws: Aws, context: FakeContext
) -> None:
    """A continuation a `continue` task started after a RETAIN destroy's stop runs on: the cohort
    taken back is reopened, so that execution goes on instead of ending at its next check."""
    properties = tracked(aws)
    first = deploy(request("Create", properties), service, clients, context)
    index.on_event(request("Delete", properties, physical_id=first), context, clients)
    aws.sfn.start_execution(stateMachineArn=aws.machine, name=f"batch-{first}-1", input="{}")  # the orphan

    same = {**properties, "OnDelete": "CANCEL_RUNS"}
    deploy(request("Update", same, old=properties, physical_id=first), service, clients, context)

    reopened = store(aws, first).read()
    assert reopened is not None and reopened.closed is None
    assert executions(aws) == {f"batch-{first}": "ABORTED", f"batch-{first}-1": "RUNNING"}
