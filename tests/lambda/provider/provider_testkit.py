"""Builders shared by the run batch handler tests: events, properties, stubbed calls.

A module of its own (not conftest) so test files can import it by a name no other
test directory uses; conftest.py puts this directory on sys.path.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from botocore.stub import Stubber

from omics_batch_construct_runtime.clients import Clients

ACCOUNT = "123456789012"
REGION = "us-east-1"
BATCH_ID = "4455667"
BATCH_ARN = f"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/{BATCH_ID}"
BATCH_UUID = "8f5c3a1e-2b7d-4c9e-9a1f-0d2e3c4b5a69"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/omics-run-role"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/demo/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
OUTPUT_BUCKET = "demo-output"
REPORT_URI = f"s3://{OUTPUT_BUCKET}/runs/batch-reports/"
RESPONSE_URL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/SECRET-SIGNATURE"


def clients(omics: Any, quotas: Any, **others: Any) -> Clients:
    """The handler's clients: ``omics`` and Service Quotas (a stand-in answers each), and ``others``."""
    return Clients(omics=omics, servicequotas=quotas, **others)


class FakeContext:
    """The parts of a Lambda context the handler reads."""

    log_group_name = "/aws/lambda/demo-RunBatchHandler"
    log_stream_name = "2026/04/01/[$LATEST]0123456789abcdef"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:demo-RunBatchHandler"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def cfn_properties(**overrides: Any) -> dict[str, Any]:
    """Resource properties as CloudFormation delivers them: every scalar a string."""
    properties: dict[str, Any] = {
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:demo-Provider",
        "SchemaVersion": "1",
        "BatchName": "cohort-a",
        "DefaultRunSetting": {
            "workflowId": "9876543",
            "roleArn": ROLE_ARN,
            "outputUri": "s3://demo-output/runs/",
            "storageCapacity": "1200",
            "priority": "5",
            "requesterPaysEnabled": "true",
            "parameters": json.dumps({"threads": 4, "ratio": 0.5, "qc": True, "ref": "s3://ref/hg38.fa"}),
            "runTags": {"project": "demo"},
        },
        "BatchRunSettings": {
            "inlineSettings": [
                {
                    "runSettingId": "sample-1",
                    "priority": "10",
                    "parameters": json.dumps({"sample": "s3://in/s1.bam", "threads": 8}),
                },
                {"runSettingId": "sample-2", "parameters": json.dumps({"sample": "s3://in/s2.bam"})},
            ]
        },
        "Tags": {"team": "genomics"},
        "OnDelete": "RETAIN",
    }
    properties.update(overrides)
    return properties


def api_default_run_setting() -> dict[str, Any]:
    """``cfn_properties()``'s DefaultRunSetting in the API's types."""
    return {
        "workflowId": "9876543",
        "roleArn": ROLE_ARN,
        "outputUri": "s3://demo-output/runs/",
        "storageCapacity": 1200,
        "priority": 5,
        "requesterPaysEnabled": True,
        "parameters": {"threads": 4, "ratio": 0.5, "qc": True, "ref": "s3://ref/hg38.fa"},
        "runTags": {"project": "demo"},
    }


def api_batch_run_settings() -> dict[str, Any]:
    """``cfn_properties()``'s BatchRunSettings in the API's types."""
    return {
        "inlineSettings": [
            {"runSettingId": "sample-1", "priority": 10, "parameters": {"sample": "s3://in/s1.bam", "threads": 8}},
            {"runSettingId": "sample-2", "parameters": {"sample": "s3://in/s2.bam"}},
        ]
    }


def make_event(
    request_type: str,
    properties: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
    physical_id: str | None = None,
    request_id: str = "5f1c7e0a-1111-2222-3333-444455556666",
) -> dict[str, Any]:
    """A CloudFormation custom resource request as the Provider framework forwards it."""
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": properties.get("ServiceToken", ""),
        "ResponseURL": RESPONSE_URL,
        "StackId": STACK_ID,
        "RequestId": request_id,
        "LogicalResourceId": "CohortBatch1A2B3C4D",
        "ResourceType": "AWS::CloudFormation::CustomResource",
        "ResourceProperties": copy.deepcopy(properties),
    }
    if old is not None:
        event["OldResourceProperties"] = copy.deepcopy(old)
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


def is_complete_event(event: dict[str, Any], on_event_result: dict[str, Any]) -> dict[str, Any]:
    """The event the framework passes to is_complete: the request merged with on_event's result."""
    return {**event, **on_event_result}


def started_event(event: dict[str, Any], batch_id: str = BATCH_ID, *, seconds_ago: float = 0.0) -> dict[str, Any]:
    """What is_complete gets after on_event started (or found) ``batch_id``, ``seconds_ago``."""
    data = {
        "BatchId": batch_id,
        "BatchArn": f"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/{batch_id}",
        "BatchUuid": BATCH_UUID,
        "Status": "PENDING",
        "StartedAt": repr(time.time() - seconds_ago),
    }
    return {**event, "PhysicalResourceId": batch_id, "Data": data}


def batch_description(status: str, batch_id: str = BATCH_ID, **extra: Any) -> dict[str, Any]:
    """A GetBatch / StartRunBatch response for a batch in ``status``."""
    return {
        "id": batch_id,
        "arn": f"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/{batch_id}",
        "uuid": BATCH_UUID,
        "status": status,
        **extra,
    }


class StubbedOmics:
    """A Stubber with shorthands for the calls these tests expect, in order."""

    def __init__(self, client: Any, stubber: Stubber) -> None:
        self.client = client
        self.stubber = stubber

    def get(self, status: str, batch_id: str = BATCH_ID, **extra: Any) -> None:
        self.stubber.add_response("get_batch", batch_description(status, batch_id, **extra), {"batchId": batch_id})

    def accept(self, method: str, batch_id: str = BATCH_ID) -> None:
        """A cancel or delete request that the service accepts."""
        self.stubber.add_response(method, {}, {"batchId": batch_id})

    def error(
        self,
        method: str,
        code: str,
        expected_params: dict[str, Any] | None = None,
        *,
        http_status: int = 400,
        message: str = "stubbed service error",
    ) -> None:
        if expected_params is None:
            expected_params = {"batchId": BATCH_ID}
        self.stubber.add_client_error(
            method,
            service_error_code=code,
            service_message=message,
            http_status_code=http_status,
            expected_params=expected_params,
        )

    def start(self, expected_params: dict[str, Any], status: str = "CREATING", batch_id: str = BATCH_ID) -> None:
        response = batch_description(status, batch_id)
        self.stubber.add_response("start_run_batch", response, expected_params)

    def listed(self, name: str, *batches: dict[str, Any]) -> None:
        """ListBatch by ``name``, answering ``batches`` (ListBatch items)."""
        self.stubber.add_response("list_batch", {"items": list(batches)}, {"name": name, "maxItems": 100})
