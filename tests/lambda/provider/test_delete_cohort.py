"""Delete of a cohort: the tracking executions are stopped first, then every batch the manifest names.

The tracker starts batches of its own (later parts, resubmissions) and records them in the
cohort's manifest beside the report; a destroy must reach them all, and must stop the
tracker first so that no batch starts after the destroy looked. A task under way when its
execution stopped runs on (Step Functions does not stop a Lambda invocation), so the destroy
stops again at every poll, finds the batch a check was starting by its name, and finishes only
once the tracker function's timeout has passed since the last stop. HealthOmics is the
stand-in, S3 moto's, Step Functions a real client under a Stubber (the calls checked against
its model), and the polls' clock is given.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from provider_testkit import REGION, FakeContext, cfn_properties, is_complete_event, make_event

from omics_common import contract
from omics_common import manifest as manifest_module
from omics_common.clients import Clients
from provider import index
from tests.standin.healthomics import HealthOmics

CREDENTIALS = {"region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "y"}
MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:Tracker"
REPORT_URI = "s3://demo-output/runs/batch-reports/"
INLINE = {"inlineSettings": [{"runSettingId": "s1"}]}
DEFAULT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run"}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", **CREDENTIALS)
        client.create_bucket(Bucket="demo-output")
        yield client


@pytest.fixture
def sfn() -> Iterator[Stubber]:
    client = boto3.client("stepfunctions", **CREDENTIALS)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def start(service: HealthOmics, name: str, status: str) -> str:
    batch_id = str(
        service.StartRunBatch(
            {"requestId": name, "batchName": name, "defaultRunSetting": DEFAULT, "batchRunSettings": INLINE}
        )["id"]
    )
    service.set_status(batch_id, status)
    return batch_id


def manifest(s3: Any, first: str, *others: str, starting: dict[str, Any] | None = None) -> None:
    body: dict[str, Any] = {
        "firstBatchId": first,
        "batches": [{"batchId": b, "part": 0, "attempt": 1} for b in (first, *others)],
    }
    if starting is not None:
        body["starting"] = starting
    key = f"runs/batch-reports/batch-{first}/{contract.COHORT_MANIFEST}"
    s3.put_object(Bucket="demo-output", Key=key, Body=json.dumps(body).encode())


def delete_event(first: str, on_delete: str) -> dict[str, Any]:
    properties = cfn_properties(
        OnDelete=on_delete,
        **{contract.PROP_TRACKER_ARN: MACHINE, contract.PROP_REPORT_URI: REPORT_URI},
    )
    return make_event("Delete", properties, physical_id=first)


NOW = datetime.datetime(2026, 12, 1, 1, 0, tzinfo=datetime.UTC)
# How long after the last stop a destroy may finish: no task of the stopped tracking can still run.
QUIET = contract.TRACKER_TIMEOUT_SECONDS + contract.NOT_VISIBLE_GRACE_SECONDS + manifest_module.CLOCK_SKEW_SECONDS


def execution(first: str, name: str, status: str, stopped: datetime.datetime | None = None) -> dict[str, Any]:
    listed: dict[str, Any] = {
        "executionArn": f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}",
        "stateMachineArn": MACHINE,
        "name": name,
        "status": status,
        "startDate": NOW - datetime.timedelta(days=1),
    }
    if stopped is not None:
        listed["stopDate"] = stopped
    return listed


def expect_look(
    sfn: Stubber, first: str, executions: list[dict[str, Any]], policy: str = contract.ON_DELETE_CANCEL_RUNS
) -> None:
    """One look at the state machine's aborted and running executions (ListExecutions by status),
    and a stop of the cohort's running ones."""
    for status in ("ABORTED", "RUNNING"):
        listed = [e for e in executions if e["status"] == status]
        expected = {"stateMachineArn": MACHINE, "maxResults": 100, "statusFilter": status}
        sfn.add_response("list_executions", {"executions": listed}, expected)
    for listed in executions:
        if listed["status"] == "RUNNING" and listed["name"].startswith(f"batch-{first}"):
            sfn.add_response(
                "stop_execution",
                {"stopDate": NOW},
                {"executionArn": listed["executionArn"], "cause": f"the resource is deleted ({policy})"},
            )


def poll(event: dict[str, Any], context: FakeContext, clients: Clients, at: datetime.datetime) -> bool:
    return bool(index.is_complete(is_complete_event(event, {}), context, clients, at.timestamp)["IsComplete"])


def later(seconds: float) -> datetime.datetime:
    return NOW + datetime.timedelta(seconds=seconds)


def test_a_destroy_stops_the_tracker_then_cancels_every_batch_of_the_cohort(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    resubmitted = start(service, f"c{first}-p0a2", "INPROGRESS")
    next_part = start(service, f"c{first}-p1a1", "SUBMITTING")
    manifest(s3, first, resubmitted, next_part)
    # The cohort's execution and its continuation are stopped; another cohort's is left alone.
    names = [f"batch-{first}", f"batch-{first}-1", "batch-9999999"]
    expect_look(sfn, first, [execution(first, name, "RUNNING") for name in names])
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)
    event = delete_event(first, contract.ON_DELETE_CANCEL_RUNS)

    index.on_event(event, context, clients)
    assert [service.batches[b].status for b in (first, resubmitted, next_part)] == ["PROCESSED", "STOPPING", "STOPPING"]
    stopped = [execution(first, name, "ABORTED", NOW) for name in names[:2]]
    expect_look(sfn, first, stopped)
    assert not poll(event, context, clients, later(15))
    for batch_id in (resubmitted, next_part):
        service.set_status(batch_id, "CANCELLED")
    # Every batch is done; a check under way when the tracking stopped could still start one.
    expect_look(sfn, first, stopped)
    assert not poll(event, context, clients, later(QUIET - 1))
    expect_look(sfn, first, stopped)
    assert poll(event, context, clients, later(QUIET))
    assert service.names().count("CancelRunBatch") == 2  # each once: a stopping batch is waited for


def test_a_continuation_started_after_the_stop_is_stopped_too(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    """A ``continue`` task under way when the tracking stopped starts a fresh execution: stopped at the next poll."""
    first = start(service, "deploy", "PROCESSED")
    expect_look(sfn, first, [execution(first, f"batch-{first}", "RUNNING")])
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)
    event = delete_event(first, contract.ON_DELETE_CANCEL_RUNS)
    index.on_event(event, context, clients)

    stopped = execution(first, f"batch-{first}", "ABORTED", NOW)
    expect_look(sfn, first, [stopped, execution(first, f"batch-{first}-1", "RUNNING")])
    assert not poll(event, context, clients, later(QUIET + 15))
    restopped = execution(first, f"batch-{first}-1", "ABORTED", later(QUIET + 15))
    expect_look(sfn, first, [stopped, restopped])
    assert not poll(event, context, clients, later(QUIET + 30))  # its own tasks may still run
    expect_look(sfn, first, [stopped, restopped])
    assert poll(event, context, clients, later(2 * QUIET + 15))


def test_the_batch_a_check_was_starting_is_found_by_its_name(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    """The check named it in the manifest before its StartRunBatch, and wrote no batch id after it."""
    first = start(service, "deploy", "PROCESSED")
    being_started = start(service, f"c{first}-p0a2", "SUBMITTING")
    start(service, f"c{first}-p0a3", "SUBMITTING")  # another name: not this one
    manifest(s3, first, starting={"batchName": f"c{first}-p0a2", "requestedAt": NOW.timestamp()})
    expect_look(sfn, first, [execution(first, f"batch-{first}", "ABORTED", later(-2 * QUIET))])
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)

    index.on_event(delete_event(first, contract.ON_DELETE_CANCEL_RUNS), context, clients)

    assert service.batches[being_started].status == "STOPPING"
    assert [b.status for b in service.started()] == ["PROCESSED", "STOPPING", "SUBMITTING"]
    assert "ListBatch" in service.names()


def test_a_batch_being_started_that_is_not_listed_is_waited_for(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    """Not listed: not started yet (the check may still be running), or not listed yet. Waited for
    until the tracker function's timeout and the listing's grace have passed since the request."""
    first = start(service, "deploy", "PROCESSED")
    manifest(s3, first, starting={"batchName": f"c{first}-p0a2", "requestedAt": NOW.timestamp()})
    long_stopped = [execution(first, f"batch-{first}", "ABORTED", later(-2 * QUIET))]
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)
    event = delete_event(first, contract.ON_DELETE_CANCEL_RUNS)
    grace = contract.TRACKER_TIMEOUT_SECONDS + contract.NOT_VISIBLE_GRACE_SECONDS

    expect_look(sfn, first, long_stopped)
    assert not poll(event, context, clients, later(grace))
    service.StartRunBatch(
        {"requestId": "late", "batchName": f"c{first}-p0a2", "defaultRunSetting": DEFAULT, "batchRunSettings": INLINE}
    )
    service.set_status(service.started()[-1].id, "INPROGRESS")
    expect_look(sfn, first, long_stopped)
    assert not poll(event, context, clients, later(grace))  # found: and cancelled now
    assert service.started()[-1].status == "STOPPING"
    service.set_status(service.started()[-1].id, "CANCELLED")
    expect_look(sfn, first, long_stopped)
    assert poll(event, context, clients, later(grace))


def test_a_batch_never_started_is_given_up_after_the_grace(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    manifest(s3, first, starting={"batchName": f"c{first}-p0a2", "requestedAt": NOW.timestamp()})
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)
    grace = contract.TRACKER_TIMEOUT_SECONDS + contract.NOT_VISIBLE_GRACE_SECONDS

    expect_look(sfn, first, [])
    assert poll(delete_event(first, contract.ON_DELETE_CANCEL_RUNS), context, clients, later(grace + 1))


def test_without_a_manifest_only_the_first_batch_is_the_cohort_and_the_manifest_is_not_read(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    """A delete before the tracker wrote a manifest (a deploy that failed validation, say): the
    listing says so. Reading the missing key would be AccessDenied without s3:ListBucket."""
    first = start(service, "deploy", "INPROGRESS")
    other = start(service, "someone-else", "INPROGRESS")
    expect_look(sfn, first, [])
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)
    asked: list[str] = []
    s3.meta.events.register("before-call.s3", lambda model, **_: asked.append(model.name))

    index.on_event(delete_event(first, contract.ON_DELETE_CANCEL_RUNS), context, clients)

    assert (service.batches[first].status, service.batches[other].status) == ("STOPPING", "INPROGRESS")
    assert asked == ["ListObjectsV2"]


def test_retain_stops_the_tracker_and_leaves_every_batch_running(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    resubmitted = start(service, f"c{first}-p0a2", "INPROGRESS")
    manifest(s3, first, resubmitted)
    policy = contract.ON_DELETE_RETAIN
    expect_look(sfn, first, [execution(first, f"batch-{first}", "RUNNING")], policy=policy)
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)
    event = delete_event(first, policy)

    assert index.on_event(event, context, clients) == {"PhysicalResourceId": first}
    stopped = [execution(first, f"batch-{first}", "ABORTED", NOW)]
    expect_look(sfn, first, stopped, policy=policy)
    assert not poll(event, context, clients, later(15))  # a continue under way could carry the cohort on
    expect_look(sfn, first, stopped, policy=policy)
    assert poll(event, context, clients, later(QUIET))
    assert service.names() == []  # no batch touched: they run on, and nothing starts another


def test_a_cohort_whose_tracking_ended_is_deleted_without_waiting(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    expect_look(sfn, first, [execution(first, f"batch-{first}", "SUCCEEDED", later(-60))])
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)

    assert poll(delete_event(first, contract.ON_DELETE_CANCEL_RUNS), context, clients, later(0))
