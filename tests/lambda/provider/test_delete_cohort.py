"""Delete of a cohort: the tracking executions are stopped first, then every batch the manifest names.

The tracker starts batches of its own (later parts, resubmissions) and records them in the
cohort's manifest beside the report; a destroy must reach them all, and must stop the
tracker first so that no batch starts after the destroy looked. HealthOmics is the stand-in,
S3 moto's, Step Functions a real client under a Stubber (the calls checked against its model).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from provider_testkit import REGION, FakeContext, cfn_properties, is_complete_event, make_event

from omics_common import contract
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


def manifest(s3: Any, first: str, *others: str) -> None:
    body = {"firstBatchId": first, "batches": [{"batchId": b, "part": 0, "attempt": 1} for b in (first, *others)]}
    key = f"runs/batch-reports/batch-{first}/{contract.COHORT_MANIFEST}"
    s3.put_object(Bucket="demo-output", Key=key, Body=json.dumps(body).encode())


def delete_event(first: str, on_delete: str) -> dict[str, Any]:
    properties = cfn_properties(
        OnDelete=on_delete,
        **{contract.PROP_TRACKER_ARN: MACHINE, contract.PROP_REPORT_URI: REPORT_URI},
    )
    return make_event("Delete", properties, physical_id=first)


def expect_stop(sfn: Stubber, first: str, running: list[str], policy: str = contract.ON_DELETE_CANCEL_RUNS) -> None:
    executions = [
        {
            "executionArn": f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}",
            "stateMachineArn": MACHINE,
            "name": name,
            "status": "RUNNING",
            "startDate": "2026-12-01T00:00:00Z",
        }
        for name in running
    ]
    sfn.add_response(
        "list_executions",
        {"executions": executions},
        {"stateMachineArn": MACHINE, "statusFilter": "RUNNING", "maxResults": 100},
    )
    for execution in executions:
        if execution["name"].startswith(f"batch-{first}"):
            sfn.add_response(
                "stop_execution",
                {"stopDate": "2026-12-01T01:00:00Z"},
                {"executionArn": execution["executionArn"], "cause": f"the resource is deleted ({policy})"},
            )


def test_a_destroy_stops_the_tracker_then_cancels_every_batch_of_the_cohort(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    resubmitted = start(service, f"c{first}-p0a2", "INPROGRESS")
    next_part = start(service, f"c{first}-p1a1", "SUBMITTING")
    manifest(s3, first, resubmitted, next_part)
    # The cohort's execution and its continuation are stopped; another cohort's is left alone.
    expect_stop(sfn, first, [f"batch-{first}", f"batch-{first}-1", "batch-9999999"])
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)
    event = delete_event(first, contract.ON_DELETE_CANCEL_RUNS)

    index.on_event(event, context, clients)
    assert [service.batches[b].status for b in (first, resubmitted, next_part)] == ["PROCESSED", "STOPPING", "STOPPING"]
    assert index.is_complete(is_complete_event(event, {}), context, clients) == {"IsComplete": False}
    for batch_id in (resubmitted, next_part):
        service.set_status(batch_id, "CANCELLED")
    assert index.is_complete(is_complete_event(event, {}), context, clients) == {"IsComplete": True}
    assert service.names().count("CancelRunBatch") == 2  # each once: a stopping batch is waited for


def test_without_a_manifest_only_the_first_batch_is_the_cohort(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    first = start(service, "deploy", "INPROGRESS")
    other = start(service, "someone-else", "INPROGRESS")
    expect_stop(sfn, first, [])
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)

    index.on_event(delete_event(first, contract.ON_DELETE_CANCEL_RUNS), context, clients)
    assert (service.batches[first].status, service.batches[other].status) == ("STOPPING", "INPROGRESS")


def test_retain_stops_the_tracker_and_leaves_every_batch_running(
    client: Any, service: HealthOmics, s3: Any, sfn: Stubber, context: FakeContext
) -> None:
    first = start(service, "deploy", "PROCESSED")
    resubmitted = start(service, f"c{first}-p0a2", "INPROGRESS")
    manifest(s3, first, resubmitted)
    expect_stop(sfn, first, [f"batch-{first}"], policy=contract.ON_DELETE_RETAIN)
    clients = Clients(omics=client, s3=s3, stepfunctions=sfn.client)
    event = delete_event(first, contract.ON_DELETE_RETAIN)

    assert index.on_event(event, context, clients) == {"PhysicalResourceId": first}
    assert index.is_complete(is_complete_event(event, {}), context, clients) == {"IsComplete": True}
    assert service.names() == []  # no batch touched: they run on, and nothing starts another
