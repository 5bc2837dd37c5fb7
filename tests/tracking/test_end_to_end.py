"""The state machine and the real tracker function together, in moto.

S3, EventBridge and Step Functions are moto's (the tracker resumes the parked execution
through moto's history and SendTaskSuccess); HealthOmics, which moto lacks, is a real
botocore client under a Stubber.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from tracker_testkit import batch, expect_listings, runs

from omics_common.clients import Clients
from omics_common.omics import omics_client
from tests.tracking.harness import REGION, definition_of, moto_machine
from tests.tracking.test_state_machine import synth
from tracker.index import handle

BATCH = "4455667"  # tracker_testkit's BATCH_ID
SAMPLES = ("NA12878", "NA12891", "NA12892")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from omics_batch_construct import RunSetting

    return synth(run_list=[RunSetting(run_setting_id=s, parameters={"sample": s}) for s in SAMPLES])


def report_bucket(template: dict[str, Any]) -> str:
    """The bucket the resolved definition writes the report to (see harness.resolve)."""
    (logical_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket" and "Output" in k]
    return logical_id.lower()


@pytest.mark.parametrize("deliver_event", [True, False], ids=["event delivered", "event lost"])
def test_batch_with_a_failed_run_is_tracked_reported_and_retried(template: dict[str, Any], deliver_event: bool) -> None:
    omics = omics_client(
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1}),
    )
    batch_runs = runs(
        ("NA12878", "SUCCESS", "COMPLETED"), ("NA12891", "SUCCESS", "FAILED"), ("NA12892", "FAILED", None)
    )
    with Stubber(omics) as stubbed:
        stubbed.add_response("get_batch", batch("INPROGRESS"), {"batchId": BATCH})
        stubbed.add_response("get_batch", batch("PROCESSED"), {"batchId": BATCH})
        stubbed.add_response("get_batch", batch("PROCESSED"), {"batchId": BATCH})  # the report's own read
        expect_listings(_Recorder(stubbed), batch_runs, page_size=2)

        def tracker(payload: dict[str, Any]) -> Any:
            return handle(payload, clients)

        definition = definition_of(template, backstop_seconds=30 if deliver_event else 1)
        with moto_machine(definition, tracker) as machine:
            clients = Clients(
                omics=omics,
                s3=boto3.client("s3", region_name=REGION),
                events=boto3.client("events", region_name=REGION),
                stepfunctions=boto3.client("stepfunctions", region_name=REGION),
            )
            clients.s3.create_bucket(Bucket=report_bucket(template))
            execution = machine.start(BATCH)
            if deliver_event:
                machine.when_parked(
                    execution,
                    lambda: handle(
                        {
                            "action": "resume",
                            "stateMachineArn": machine.arn,
                            "detail-type": "RunBatch Status Change",
                            "source": "aws.omics",
                            "detail": {"batchId": BATCH, "status": "PROCESSED"},
                        },
                        clients,
                    ),
                ).join(20)
            result = machine.wait(execution)
            prefix = f"Cohort/batch-reports/batch-{BATCH}/"
            bucket = report_bucket(template)
            report = json.loads(clients.s3.get_object(Bucket=bucket, Key=prefix + "report.json")["Body"].read())
            retry = json.loads(clients.s3.get_object(Bucket=bucket, Key=prefix + "retry-settings.json")["Body"].read())
        stubbed.assert_no_pending_responses()

    assert (result.status, result.error) == ("FAILED", "BatchNotClean")
    assert result.count("TaskTimedOut") == (0 if deliver_event else 1)
    assert [(r["runSettingId"], r["submissionStatus"], r["runStatus"]) for r in report] == [
        ("NA12878", "SUCCESS", "COMPLETED"),
        ("NA12891", "SUCCESS", "FAILED"),
        ("NA12892", "FAILED", ""),
    ]
    # The retry file holds the original settings of exactly the failed runs, ready for a new batch.
    assert retry == [{"runSettingId": s, "parameters": {"sample": s}} for s in ("NA12891", "NA12892")]


class _Recorder:
    """tracker_testkit's listing helpers queue through ``add``; a bare Stubber calls it add_response."""

    def __init__(self, stubber: Stubber) -> None:
        self.stubber = stubber

    def add(self, method: str, response: dict[str, Any], expected: dict[str, Any] | None = None) -> None:
        self.stubber.add_response(method, response, expected)
