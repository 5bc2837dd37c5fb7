"""The tracker's metrics: one embedded metric format line on standard output at each check, at the
report, and for each "Tracking Delayed" event the monitoring's rule sends.

Against the HealthOmics stand-in and moto's S3, as in test_cohort.py; what the function prints is
read back with capsys, as CloudWatch Logs would read it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tracker_testkit import REPORT_URI, SETTINGS_BUCKET, SETTINGS_KEY, SETTINGS_URI, Recorded

from omics_batch_construct_runtime import metrics
from omics_batch_construct_runtime.clients import Clients
from tests.standin.healthomics import HealthOmics
from tests.tracking import checks
from tracker import cohort, report
from tracker.index import handle

DEFAULT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run", "outputUri": "s3://out/runs/"}
QUOTA = "ServiceQuotaExceededException"
SAMPLES = ("s1", "s2", "s3", "s4")


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF documents printed since the last call (other output is not JSON with ``_aws``)."""
    found = []
    for line in capsys.readouterr().out.splitlines():
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            found.append(document)
    return found


def values(document: dict[str, Any]) -> dict[str, Any]:
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert (directive["Namespace"], directive["Dimensions"]) == ("OmicsRunBatch", [["Cohort"]])
    return {d["Name"]: document[d["Name"]] for d in directive["Metrics"]}


class Cohort(checks.TrackedCohort):
    """A deployed cohort of four samples, checked as the state machine checks it."""

    def __init__(self, service: HealthOmics, s3: Any, clients: Clients) -> None:
        self.service, self.clients = service, clients
        entries = [{"runSettingId": i, "parameters": {"sample": f"s3://in/{i}.bam"}} for i in SAMPLES]
        s3.put_object(Bucket=SETTINGS_BUCKET, Key=SETTINGS_KEY, Body=json.dumps(entries).encode())
        started = service.StartRunBatch(
            {"requestId": "deploy", "defaultRunSetting": DEFAULT, "batchRunSettings": {"s3UriSettings": SETTINGS_URI}}
        )
        self.first = str(started["id"])
        self.config = {
            "parts": [{"settingsUri": SETTINGS_URI}],
            "resubmission": {"maxAttempts": 2, "submissionFailures": [QUOTA], "failedRuns": False},
            "start": json.dumps({"defaultRunSetting": DEFAULT, "tags": {}, "batchName": "cohort-a"}),
            "reportUri": REPORT_URI,
            "topicArn": None,
        }


def test_a_check_prints_the_cohorts_counts(
    service: HealthOmics, s3: Any, cohort_clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort = Cohort(service, s3, cohort_clients)
    service.submit(cohort.first)

    cohort.check()

    (document,) = emitted(capsys)
    assert document["Cohort"] == cohort.first
    assert values(document) == {"RunsCompleted": 0, "RunsFailed": 0, "RunsNotFinished": 4, "SubmissionsFailed": 0}


def test_the_counts_are_over_every_batch_and_attempt(
    service: HealthOmics, s3: Any, cohort_clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort = Cohort(service, s3, cohort_clients)
    # The deploy's batch ends: one run failed, one submission refused for quota (resubmitted).
    service.finish(cohort.first, refused={"s2": QUOTA}, failed={"s3"})

    cohort.check()  # settles it, then starts the resubmission

    assert values(emitted(capsys)[-1]) == {
        "RunsCompleted": 2,
        "RunsFailed": 1,
        "RunsNotFinished": 0,
        "SubmissionsFailed": 1,
    }
    (resubmission,) = [b.id for b in service.started() if b.id != cohort.first]
    service.finish(resubmission)
    assert cohort.check()["done"] is True
    # The resubmitted run completed; the refusal of its first attempt still counts.
    assert values(emitted(capsys)[-1]) == {
        "RunsCompleted": 3,
        "RunsFailed": 1,
        "RunsNotFinished": 0,
        "SubmissionsFailed": 1,
    }


def test_the_report_prints_the_final_counts(
    service: HealthOmics,
    s3: Any,
    cohort_clients: Clients,
    published: Recorded,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cohort = Cohort(service, s3, cohort_clients)
    service.finish(cohort.first, failed={"s4"})
    cohort.check()
    published.expect_event()
    emitted(capsys)

    cohort.report()

    (document,) = emitted(capsys)
    assert document["Cohort"] == cohort.first
    # Without an insight function nothing was priced: no cost, rather than a cost of 0.
    assert values(document) == {"RunsCompleted": 3, "RunsFailed": 1, "RunsNotFinished": 0, "SubmissionsFailed": 0}


def test_the_reports_cost_is_the_digests_total_and_a_deleted_batch_counts_as_last_read() -> None:
    state = cohort.State.of(
        {
            "batches": [
                {"batchId": "1", "part": 0, "attempt": 1, "counts": {"completed": 9, "failed": 1}},
                {"batchId": "2", "part": 0, "attempt": 2, "counts": {"completed": 1}},
            ]
        },
        "1",
    )
    answers = {
        "1": {"id": "1", "status": "PROCESSED", "runSummary": {"completedRunCount": 9, "failedRunCount": 1}},
        "2": {"id": "2", "status": "PROCESSED"},  # deleted since: what the tracker last read of it
    }

    found = report.final_metrics(state, answers, {"totalUsd": 48.6162, "runsPriced": 10})

    assert found == {
        "RunsCompleted": 10,
        "RunsFailed": 1,
        "RunsNotFinished": 0,
        "SubmissionsFailed": 0,
        "CostUsd": 48.6162,
    }
    assert metrics.COST_USD not in report.final_metrics(state, answers, None)


def test_a_tracking_delayed_event_is_counted(clients: Clients, capsys: pytest.CaptureFixture[str]) -> None:
    result = handle({"action": "delayed", "batchId": "4455667", "state": "Check"}, clients)

    assert result == {"batchId": "4455667", "delayed": "Check"}
    (document,) = emitted(capsys)
    assert (document["Cohort"], values(document)) == ("4455667", {"TrackingDelays": 1})


def test_a_state_from_before_the_metrics_still_reads(
    service: HealthOmics, s3: Any, cohort_clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    """An execution started by an earlier release carries batches without counts: they count 0 until
    read again, and the check goes on."""
    cohort = Cohort(service, s3, cohort_clients)
    service.submit(cohort.first)
    cohort.check()
    old = json.loads(json.dumps(cohort.state))
    for batch in old["batches"]:
        del batch["counts"]
    cohort.state = old

    cohort.check()

    assert values(emitted(capsys)[-1])["RunsNotFinished"] == 4
