"""The handler works on a Lambda runtime whose botocore predates run batches.

The asset ships botocore's omics model beside the code (``omics_batch_construct_runtime/botocore_data``).
This test runs a copy of ``lambda/`` as the asset holds it, in a fresh interpreter that
sees only the standard library, botocore 1.42.70 (which has no StartRunBatch) and the
copy, and drives a Create through on_event and is_complete with a Stubber-ed client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
OLD_BOTOCORE = REPO / ".cache" / "botocore-1.42.70"

SCRIPT = r"""
import json

import boto3
import botocore
from botocore.config import Config
from botocore.stub import Stubber

assert botocore.__version__ == "1.42.70", botocore.__version__
plain = boto3.client("omics", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
assert not hasattr(plain, "start_run_batch"), "this botocore already knows run batches: the test proves nothing"

from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.omics import omics_client
from provider import batch, index

client = omics_client(
    region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y",
    config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
)


class Context:
    log_group_name = "/aws/lambda/handler"
    log_stream_name = "stream"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:handler"

    def get_remaining_time_in_millis(self):
        return 60000


event = {
    "RequestType": "Create",
    "ResponseURL": "https://example.invalid/response",
    "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/demo/0a1b2c3d",
    "RequestId": "request-1",
    "LogicalResourceId": "Batch",
    "ResourceType": "AWS::CloudFormation::CustomResource",
    "ResourceProperties": {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
        "SchemaVersion": "1",
        "DefaultRunSetting": {
            "workflowId": "9876543",
            "roleArn": "arn:aws:iam::123456789012:role/run",
            "storageCapacity": "1200",
            "parameters": "{\"threads\": 4}",
        },
        "BatchRunSettings": {"inlineSettings": [{"runSettingId": "s1", "priority": "3"}]},
    },
}
batch_json = {"id": "4455667", "arn": "arn:aws:omics:us-east-1:123456789012:runBatch/4455667",
              "uuid": "u-1", "status": "CREATING"}
quotas = boto3.client("service-quotas", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
key = batch.definition_key(event)
name = batch.default_batch_name(event, key)
with Stubber(client) as stubber, Stubber(quotas) as quota_stubber:
    stubber.add_response("list_batch", {"items": []}, {"name": name, "maxItems": 100})
    quota_stubber.add_response(
        "list_service_quotas",
        {"Quotas": [{"QuotaName": "Workflows - Maximum runs (active or inactive)", "Value": 1000.0}]},
        {"ServiceCode": "omics", "MaxResults": 100},
    )
    stubber.add_response("start_run_batch", batch_json, {
        "requestId": batch.request_id(key, "request-1"),
        "batchName": name,
        "defaultRunSetting": {
            "workflowId": "9876543",
            "roleArn": "arn:aws:iam::123456789012:role/run",
            "storageCapacity": 1200,
            "parameters": {"threads": 4},
        },
        "batchRunSettings": {"inlineSettings": [{"runSettingId": "s1", "priority": 3}]},
        "tags": {"omics-batch-construct:definition": key},
    })
    stubber.add_response("get_batch", {**batch_json, "status": "SUBMITTING"}, {"batchId": "4455667"})
    handler_clients = Clients(omics=client, servicequotas=quotas)
    created = index.on_event(event, Context(), clients=handler_clients)
    complete = index.is_complete({**event, **created}, Context(), clients=handler_clients)
    stubber.assert_no_pending_responses()
    quota_stubber.assert_no_pending_responses()

print(json.dumps({"botocore": botocore.__version__, "on_event": created, "is_complete": complete}))
"""


def asset_copy(tmp_path: Path) -> Path:
    """``lambda/`` as the asset would hold it: no caches, nothing from the test environment."""
    target = tmp_path / "asset"
    shutil.copytree(REPO / "lambda", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def test_handler_runs_on_a_botocore_without_run_batches(tmp_path: Path) -> None:
    if not (OLD_BOTOCORE / "botocore").is_dir():
        pytest.fail(
            f"{OLD_BOTOCORE.relative_to(REPO)} is missing: run `make test`, which installs "
            "botocore 1.42.70 there before running the tests"
        )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(OLD_BOTOCORE), str(asset_copy(tmp_path))])
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    # -S: no site-packages, so nothing newer than 1.42.70 can be picked up by accident.
    completed = subprocess.run(
        [sys.executable, "-S", "-c", SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["botocore"] == "1.42.70"
    assert result["on_event"]["PhysicalResourceId"] == "4455667"
    assert result["on_event"]["Data"]["Status"] == "CREATING"
    started_at = result["on_event"]["Data"]["StartedAt"]
    assert result["is_complete"] == {
        "IsComplete": True,
        "PhysicalResourceId": "4455667",
        "Data": {
            "BatchId": "4455667",
            "BatchArn": "arn:aws:omics:us-east-1:123456789012:runBatch/4455667",
            "BatchUuid": "u-1",
            "Status": "SUBMITTING",
            "StartedAt": started_at,
        },
    }
