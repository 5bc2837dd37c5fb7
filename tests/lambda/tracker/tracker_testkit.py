"""Builders shared by the tracker tests: stubbed clients, responses, history, a batch's runs.

A module of its own (not conftest) so test files import it by a name no other test
directory uses; conftest.py puts this directory on sys.path.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.stub import Stubber

REGION = "us-east-1"
ACCOUNT = "123456789012"
CREDENTIALS: dict[str, str] = {"region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "y"}
BATCH_ID = "4455667"
BATCH_ARN = f"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/{BATCH_ID}"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:BatchTracker1A2B3C"
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:BatchTracker1A2B3C:batch-{BATCH_ID}"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:batch-news"
REPORT_BUCKET = "demo-output"
SETTINGS_BUCKET = "cdk-assets"
SETTINGS_KEY = "0f3e5a.json"
SETTINGS_URI = f"s3://{SETTINGS_BUCKET}/{SETTINGS_KEY}"
REPORT_URI = f"s3://{REPORT_BUCKET}/runs/batch-reports/"
OUTPUT_URI = f"s3://{REPORT_BUCKET}/runs/"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAfake-token-" + "x" * 200
T0 = datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)


class StubbedClient:
    """A real client under a Stubber, recording every call's parameters as sent."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.stubber = Stubber(client)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._id = f"tracker-testkit-{id(self)}"

    def __enter__(self) -> StubbedClient:
        self.stubber.activate()
        self.client.meta.events.register("provide-client-params", self._record, unique_id=self._id)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.meta.events.unregister("provide-client-params", unique_id=self._id)
        self.stubber.deactivate()
        if exc_info[0] is None:
            self.stubber.assert_no_pending_responses()

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, copy.deepcopy(params)))

    def add(self, method: str, response: dict[str, Any], expected: dict[str, Any] | None = None) -> None:
        self.stubber.add_response(method, response, expected)

    def error(self, method: str, code: str, status: int = 400, expected: dict[str, Any] | None = None) -> None:
        self.stubber.add_client_error(
            method,
            service_error_code=code,
            service_message=f"{code} says no",
            http_status_code=status,
            expected_params=expected,
        )


@dataclass
class Recorded:
    """What the tracker published: the PutEvents entries' details and the SNS messages."""

    events: StubbedClient
    sns: StubbedClient

    def event_entries(self) -> list[dict[str, Any]]:
        return [entry for name, params in self.events.calls if name == "PutEvents" for entry in params["Entries"]]

    def details(self) -> list[dict[str, Any]]:
        return [json.loads(entry["Detail"]) for entry in self.event_entries()]

    def messages(self) -> list[dict[str, Any]]:
        return [params for name, params in self.sns.calls if name == "Publish"]

    def expect_event(self) -> None:
        self.events.add("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]})

    def expect_message(self) -> None:
        self.sns.add("publish", {"MessageId": "m-1"})


def batch(status: str = "PROCESSED", **extra: Any) -> dict[str, Any]:
    """A GetBatch response."""
    response = {
        "id": BATCH_ID,
        "arn": BATCH_ARN,
        "uuid": "8f5c3a1e-2b7d-4c9e-9a1f-0d2e3c4b5a69",
        "name": "cohort-a",
        "status": status,
        "totalRuns": 3,
        "defaultRunSetting": {"workflowId": "9876543", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/run"},
        "runSummary": {"completedRunCount": 2, "failedRunCount": 1},
        "submissionSummary": {"successfulStartSubmissionCount": 3},
        "creationTime": T0,
    }
    response.update(extra)
    return response


# --- a batch's runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run of a stubbed batch: its setting id, submission, and run status (None: no run)."""

    setting_id: str
    submission: str = "SUCCESS"
    status: str | None = "COMPLETED"
    run_id: str = ""

    def in_batch(self) -> dict[str, Any]:
        """Its ListRunsInBatch item."""
        item: dict[str, Any] = {"runSettingId": self.setting_id, "submissionStatus": self.submission}
        if self.submission == "FAILED":
            item["submissionFailureReason"] = "ServiceQuotaExceeded"
            item["submissionFailureMessage"] = 'Too many active runs, with a comma, and a "quote"'
        else:
            item.update(runId=self.run_id, runArn=f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{self.run_id}")
        return item

    def in_runs(self) -> dict[str, Any]:
        """Its ListRuns item."""
        return {
            "id": self.run_id,
            "arn": f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{self.run_id}",
            "name": f"run-{self.setting_id}",
            "status": self.status,
            "startTime": T0,
            "stopTime": T0 + datetime.timedelta(hours=2),
        }


def runs(*specs: tuple[str, str, str | None]) -> list[Run]:
    """Runs from (setting id, submission status, run status), run ids numbered from 1001."""
    numbers = itertools.count(1001)
    return [
        Run(setting_id, submission, status, "" if submission == "FAILED" else str(next(numbers)))
        for setting_id, submission, status in specs
    ]


def expect_listings(omics: StubbedClient, batch_runs: Sequence[Run], page_size: int) -> None:
    """Queue ListRuns then ListRunsInBatch, ``page_size`` items a page, as the report calls them."""
    with_runs = [run.in_runs() for run in batch_runs if run.status is not None and run.run_id]
    _expect_pages(omics, "list_runs", "items", with_runs, page_size, {"batchId": BATCH_ID, "maxResults": 100})
    items = [run.in_batch() for run in batch_runs]
    _expect_pages(omics, "list_runs_in_batch", "runs", items, page_size, {"batchId": BATCH_ID, "maxItems": 100})


def _expect_pages(
    omics: StubbedClient, method: str, key: str, items: list[dict[str, Any]], size: int, params: dict[str, Any]
) -> None:
    chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
    for number, chunk in enumerate(chunks):
        expected = dict(params, startingToken=f"{method}-{number}") if number else dict(params)
        response: dict[str, Any] = {key: chunk}
        if number < len(chunks) - 1:
            response["nextToken"] = f"{method}-{number + 1}"
        omics.add(method, response, expected)


def settings_entries(setting_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The original settings: one entry per id, with parameters that make each unique."""
    return [
        {"runSettingId": sid, "name": f"run-{sid}", "parameters": {"sample": f"s3://in/{sid}.bam", "threads": 4}}
        for sid in setting_ids
    ]


# --- Step Functions history -------------------------------------------------------------


def history_event(kind: str, number: int, **details: Any) -> dict[str, Any]:
    """One history event of ``kind`` (a HistoryEventType)."""
    return {"timestamp": T0, "type": kind, "id": number, "previousEventId": number - 1, **details}


def scheduled(number: int, payload: dict[str, Any]) -> dict[str, Any]:
    """A TaskScheduled event of the Lambda integration, as the state machine's task makes it."""
    parameters = {"FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tracker", "Payload": payload}
    return history_event(
        "TaskScheduled",
        number,
        taskScheduledEventDetails={
            "resourceType": "lambda",
            "resource": "invoke.waitForTaskToken" if "taskToken" in payload else "invoke",
            "region": REGION,
            "parameters": json.dumps(parameters),
            "timeoutInSeconds": 3600,
        },
    )


def park_scheduled(number: int, token: str = TOKEN) -> dict[str, Any]:
    return scheduled(number, {"action": "park", "batchId": BATCH_ID, "taskToken": token})


def check_scheduled(number: int) -> dict[str, Any]:
    return scheduled(number, {"action": "check", "batchId": BATCH_ID})


def history_params(next_token: str | None = None) -> dict[str, Any]:
    """GetExecutionHistory's expected parameters."""
    params: dict[str, Any] = {
        "executionArn": EXECUTION_ARN,
        "reverseOrder": True,
        "maxResults": 100,
        "includeExecutionData": True,
    }
    if next_token:
        params["nextToken"] = next_token
    return params


def omics_event(status: str = "PROCESSED", **extra: Any) -> dict[str, Any]:
    """The rule's input: HealthOmics' event as the rule passes it on, with the cohort it watches."""
    return {
        "action": "resume",
        "stateMachineArn": STATE_MACHINE_ARN,
        "cohortBatchId": BATCH_ID,
        "detail-type": "RunBatch Status Change",
        "source": "aws.omics",
        "detail": {"batchId": BATCH_ID, "status": status, "arn": BATCH_ARN, "totalRuns": "3", **extra},
    }
