"""``report``: the cohort's files in S3 (a row per run setting, its last attempt), the retry file of
what is still failed, the completion event and message.

Against the HealthOmics stand-in (its runs as ``finish`` ends them) and moto's S3; EventBridge and
SNS are real clients under Stubbers whose calls are kept.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from tracker_testkit import (
    REPORT_BUCKET,
    REPORT_URI,
    SETTINGS_BUCKET,
    SETTINGS_KEY,
    SETTINGS_URI,
    TOPIC_ARN,
    Recorded,
    StubbedClient,
)

from omics_batch_construct_runtime import reportpage
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import ApiError
from tests.standin.healthomics import HealthOmics
from tests.tracking import checks
from tracker import files
from tracker.errors import BadEvent, Throttled
from tracker.index import handle
from tracker.report import COLUMNS

DEFAULT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run", "outputUri": "s3://out/runs/"}
QUOTA = "ServiceQuotaExceededException"
POLICY = {"maxAttempts": 3, "submissionFailures": [QUOTA], "failedRuns": False}
IDS = ("sample-6", "sample-1", "sample-3", "sample-5", "sample-2", "sample-4")
# The insight columns of a cohort without an insight function (its config says none).
NO_INSIGHT = dict.fromkeys(("costUsd", "computeCostUsd", "storageCostUsd", "failureReason", "failedTask"), "")


def entries(ids: tuple[str, ...] = IDS) -> list[dict[str, Any]]:
    """The original settings; sample-5 writes elsewhere."""
    found = [{"runSettingId": i, "name": f"run-{i}", "parameters": {"sample": f"s3://in/{i}.bam"}} for i in ids]
    for entry in found:
        if entry["runSettingId"] == "sample-5":
            entry["outputUri"] = "s3://elsewhere/sample-5/"
    return found


def config(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "parts": [{"settingsUri": SETTINGS_URI}],
        "resubmission": POLICY,
        "start": json.dumps({"defaultRunSetting": DEFAULT, "tags": {}, "batchName": "cohort-a"}),
        "reportUri": REPORT_URI,
        "topicArn": None,
    }
    value.update(overrides)
    return value


class Cohort(checks.TrackedCohort):
    """A deployed cohort: its settings in S3, its first batch, and the tracker's checks so far."""

    def __init__(self, service: HealthOmics, s3: Any, clients: Clients, settings: Any = None, **kwargs: Any) -> None:
        self.service, self.s3, self.clients = service, s3, clients
        self.config = config(**kwargs)
        if settings is not False:
            body = settings if isinstance(settings, bytes) else json.dumps(settings or entries()).encode()
            s3.put_object(Bucket=SETTINGS_BUCKET, Key=SETTINGS_KEY, Body=body)
        run_settings = {"s3UriSettings": SETTINGS_URI} if settings is not False else {"inlineSettings": entries()}
        started = service.StartRunBatch(
            {
                "requestId": "deploy",
                "batchName": "cohort-a",
                "defaultRunSetting": DEFAULT,
                "batchRunSettings": run_settings,
            }
        )
        self.first = str(started["id"])

    def until_done(self) -> None:
        for _ in range(10):
            if self.check()["done"]:
                return
        raise AssertionError("the cohort is not done")

    def read(self, name: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=REPORT_BUCKET, Key=self.key(name))["Body"].read()
        return body

    def key(self, name: str) -> str:
        return f"runs/batch-reports/batch-{self.first}/{name}"

    def break_part(self, body: bytes) -> None:
        """Put ``body`` where the report reads part 0's settings: the copy in the cohort's folder."""
        (kept,) = [key for key in cohort_keys(self.s3, self.first) if key.startswith("parts/")]
        self.s3.put_object(Bucket=REPORT_BUCKET, Key=self.key(kept), Body=body)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def cohort_keys(s3: Any, first: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=REPORT_BUCKET, Prefix=f"runs/batch-reports/batch-{first}/")
    return sorted(item["Key"].rsplit(f"batch-{first}/", 1)[1] for item in listed.get("Contents", []))


# --- a clean batch -----------------------------------------------------------------------


def test_a_clean_batch_is_reported_run_by_run_with_its_attempt(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    cohort = Cohort(service, s3, cohort_clients)
    service.finish(cohort.first)
    cohort.until_done()
    published.expect_event()

    result = cohort.report()

    assert result == {
        "succeeded": True,
        "status": "PROCESSED",
        "reportJsonUri": f"{REPORT_URI}batch-{cohort.first}/report.json",
    }
    report = json.loads(cohort.read("report.json"))
    runs = {run.setting_id: run for run in service.batches[cohort.first].runs}
    run_ids = {setting_id: run.run_id for setting_id, run in runs.items()}
    assert report[0] == {
        "runSettingId": "sample-6",
        "runId": run_ids["sample-6"],
        "runArn": f"arn:aws:omics:us-east-1:123456789012:run/{run_ids['sample-6']}",
        "runName": "run-sample-6",
        "submissionStatus": "SUCCESS",
        "submissionFailureReason": "",
        "submissionFailureMessage": "",
        "runStatus": "COMPLETED",
        "startTime": "2026-04-01T08:00:00+00:00",
        "stopTime": "2026-04-01T10:00:00+00:00",
        "runUuid": runs["sample-6"].uuid,  # the run's own, where run ids are reused
        "outputLocation": f"s3://out/runs/{run_ids['sample-6']}/",
        "attempt": "1",
        "batchId": cohort.first,
        **NO_INSIGHT,
    }
    assert [row["runSettingId"] for row in report] == list(IDS)
    assert report[3]["outputLocation"] == f"s3://elsewhere/sample-5/{run_ids['sample-5']}/"  # its own outputUri
    assert csv_rows(cohort.read("report.csv")) == report
    assert "retry-settings.json" not in cohort_keys(s3, cohort.first)


def test_the_completion_event_carries_the_summary_over_the_cohort(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    cohort = Cohort(service, s3, cohort_clients)
    service.finish(cohort.first, refused={"sample-1": QUOTA})
    cohort.check()  # settles the first batch, starts the resubmission
    service.finish(service.started()[1].id)
    cohort.until_done()
    published.expect_event()

    cohort.report()

    [entry] = published.event_entries()
    assert (entry["Source"], entry["DetailType"]) == ("omics-batch-construct", "Omics Run Batch Completed")
    assert entry["Resources"] == [f"arn:aws:omics:us-east-1:123456789012:runBatch/{cohort.first}"]
    assert "EventBusName" not in entry  # the default bus
    prefix = f"{REPORT_URI}batch-{cohort.first}/"
    event = json.loads(entry["Detail"])
    assert event == {
        "batchId": cohort.first,  # the first batch: on_completed and existing rules match
        "batchArn": f"arn:aws:omics:us-east-1:123456789012:runBatch/{cohort.first}",
        "batchName": "cohort-a",
        "status": "PROCESSED",
        "succeeded": True,
        "counts": {
            "runs": 6,
            "submitted": 6,
            "submissionFailed": 0,
            "completed": 6,
            "failed": 0,
            "cancelled": 0,
            "deleted": 0,
            "notFinished": 0,
            "statusUnknown": 0,
            "retry": 0,
            "totalRuns": 6,
        },
        "batchIds": [cohort.first, service.started()[1].id],
        "attempts": 2,
        "reportJsonUri": prefix + "report.json",
        "reportCsvUri": prefix + "report.csv",
        "reportHtmlUri": prefix + "report.html",
        "retrySettingsUri": None,
        "failureReason": "",
        "settingsError": None,
        # A cohort deployed without an insight function: its runs have no cost (tracking/test_insight.py).
        "cost": {"totalUsd": 0.0, "computeUsd": 0.0, "storageUsd": 0.0, "runsPriced": 0, "runsWithoutCost": 6},
        "failures": [],
    }
    assert published.messages() == []  # no topic, no message
    manifest = json.loads(cohort.read("cohort.json"))
    assert manifest["done"] is True
    # What the command prints and exits with, without reading the report.
    kept = ("status", "succeeded", "counts", "reportJsonUri", "retrySettingsUri")
    assert manifest["result"] == {key: event[key] for key in kept}


# --- report.html ------------------------------------------------------------------------------------


def test_report_html_shows_the_cohort_beside_report_json(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    """What a person sees in it is tested in a browser (tests/lambda/omics_batch_construct_runtime)."""
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    service.finish(cohort.first, failed={"sample-3"}, refused={"sample-1": QUOTA})
    cohort.until_done()
    published.expect_event()

    cohort.report()

    head = s3.head_object(Bucket=REPORT_BUCKET, Key=cohort.key("report.html"))
    assert head["ContentType"] == "text/html; charset=utf-8"
    page = cohort.read("report.html").decode()
    assert f"<h1>Cohort of batch {cohort.first} (cohort-a)</h1>" in page
    assert "status <b>PROCESSED</b>" in page and "needs attention" in page
    assert '<tr><td><span class="key ok"></span>Completed</td><td class="n">4</td>' in page
    assert "<code>ServiceQuotaExceededException</code>" in page and "<code>sample-1</code>" in page
    assert published.details()[0]["reportHtmlUri"] == f"{REPORT_URI}batch-{cohort.first}/report.html"


def test_a_page_that_cannot_be_made_costs_the_cohort_nothing_else(
    service: HealthOmics,
    s3: Any,
    cohort_clients: Clients,
    published: Recorded,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    service.finish(cohort.first)
    cohort.until_done()
    published.expect_event()

    def broken(*_: Any) -> str:
        raise ZeroDivisionError("a bug in the page")

    monkeypatch.setattr(reportpage, "render", broken)

    assert cohort.report()["succeeded"] is True

    assert published.details()[0]["reportHtmlUri"] is None
    assert "report.html" not in cohort_keys(s3, cohort.first)
    assert "report.json" in cohort_keys(s3, cohort.first)
    assert f"Cohort {cohort.first}: report.html not made" in caplog.text


# --- resubmissions and what stays failed --------------------------------------------------------


def test_each_run_setting_has_its_last_attempt_and_the_retry_file_what_is_still_failed(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    cohort = Cohort(service, s3, cohort_clients, topicArn=TOPIC_ARN)
    service.finish(cohort.first, refused={"sample-1": QUOTA, "sample-2": "ValidationException"}, failed={"sample-3"})
    cohort.check()
    retry_batch = service.started()[1]
    service.finish(retry_batch.id)  # sample-1 runs at the second attempt
    cohort.until_done()
    published.expect_event()
    published.expect_message()

    result = cohort.report()

    report = {row["runSettingId"]: row for row in json.loads(cohort.read("report.json"))}
    assert (report["sample-1"]["attempt"], report["sample-1"]["batchId"]) == ("2", retry_batch.id)
    assert report["sample-1"]["runStatus"] == "COMPLETED"
    assert (report["sample-2"]["attempt"], report["sample-2"]["submissionFailureReason"]) == (
        "1",
        "ValidationException",
    )
    assert report["sample-3"]["runStatus"] == "FAILED"  # failed runs are not resubmitted by default
    # Still failed, in the settings' order: sample-3 (failed run), sample-2 (refused, not resubmittable).
    assert json.loads(cohort.read("retry-settings.json")) == [
        e for e in entries() if e["runSettingId"] in ("sample-3", "sample-2")
    ]
    assert result["succeeded"] is False
    [message] = published.messages()
    assert message["Subject"] == f"HealthOmics run batch {cohort.first} PROCESSED: needs attention"
    assert json.loads(message["Message"]) == published.details()[0]
    assert published.details()[0]["counts"]["retry"] == 2


def test_inline_settings_serve_the_retry_file(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    """A batch of up to 100 runs carries its settings in the definition, as JSON text."""
    cohort = Cohort(
        service, s3, cohort_clients, settings=False, parts=[{"settings": json.dumps(entries())}], resubmission=None
    )
    service.finish(cohort.first, failed={"sample-4"})
    cohort.until_done()
    published.expect_event()

    cohort.report()

    assert json.loads(cohort.read("retry-settings.json")) == [e for e in entries() if e["runSettingId"] == "sample-4"]
    assert published.details()[0]["settingsError"] is None


# --- settings that cannot serve ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (b'[{"runSettingId": "sample-1"}, {"runSettingId": ', "not valid JSON"),
        (b'{"runSettingId": "sample-1"}', "expected a JSON array of run settings"),
        (b'[{"runSettingId": 7}]', "entry 0 has no runSettingId"),
    ],
)
def test_unreadable_settings_leave_a_report_without_retry_file(
    service: HealthOmics,
    s3: Any,
    cohort_clients: Clients,
    published: Recorded,
    settings: bytes,
    error: str,
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None, parts=[{"settings": json.dumps(entries())}])
    service.finish(cohort.first, failed={"sample-4"})
    cohort.until_done()
    cohort.break_part(settings)  # the file the report reads is broken
    cohort.config = config(resubmission=None)
    published.expect_event()

    result = cohort.report()

    assert result["succeeded"] is False  # rows may be missing: never clean
    detail = published.details()[0]
    kept = f"{REPORT_URI}batch-{cohort.first}/parts/"  # the part's copy in the cohort's folder
    assert detail["settingsError"] is not None and detail["settingsError"].startswith(kept)
    assert f".json: {error}" in detail["settingsError"]
    assert detail["retrySettingsUri"] is None
    assert {"report.csv", "report.json"} <= set(cohort_keys(s3, cohort.first))
    assert "retry-settings.json" not in cohort_keys(s3, cohort.first)


def test_failed_runs_missing_from_the_settings_are_counted(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    service.finish(cohort.first, failed={"sample-3", "sample-4"})
    cohort.until_done()
    cohort.break_part(json.dumps([e for e in entries() if e["runSettingId"] != "sample-3"]).encode())
    published.expect_event()

    cohort.report()

    detail = published.details()[0]
    assert detail["settingsError"] == "1 failed runs are not in the run settings"
    assert detail["counts"]["retry"] == 1


# --- how the cohort ended -----------------------------------------------------------------------


def test_a_batch_that_failed_before_submitting_reports_every_run_as_not_submitted(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    """The batch lists no run: each run setting still has its row, with the batch's reason, and
    is in the retry file (whether the service lists the runs of a FAILED batch, its documents do
    not say; a run setting without a listed run is reported this way either way). A failure that
    needs the input fixed is not resubmitted (a transient one is: test_cohort.py)."""
    reason = "Invalid JSON format in run configurations"
    cohort = Cohort(service, s3, cohort_clients)
    service.set_status(cohort.first, "FAILED", failure_reason=reason)
    cohort.until_done()
    published.expect_event()

    result = cohort.report()

    detail = published.details()[0]
    assert (result["status"], result["succeeded"], detail["failureReason"]) == ("FAILED", False, reason)
    report = json.loads(cohort.read("report.json"))
    assert [row["runSettingId"] for row in report] == list(IDS)  # the settings' order
    assert report[0] == {
        "runSettingId": IDS[0],
        "runId": "",
        "runArn": "",
        "runName": "",
        "submissionStatus": "FAILED",
        "submissionFailureReason": "NotSubmitted",
        "submissionFailureMessage": f"batch {cohort.first} ended FAILED without submitting it: {reason}",
        "runStatus": "",
        "startTime": "",
        "stopTime": "",
        "runUuid": "",
        "outputLocation": "",
        "attempt": "1",
        "batchId": cohort.first,
        **NO_INSIGHT,
    }
    assert csv_rows(cohort.read("report.csv")) == report
    assert (detail["counts"]["runs"], detail["counts"]["submissionFailed"], detail["counts"]["retry"]) == (6, 6, 6)
    assert json.loads(cohort.read("retry-settings.json")) == entries()


def test_runs_a_cancelled_batch_never_submitted_are_reported_beside_those_it_did(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    batch = service.finish(cohort.first, status="CANCELLED")
    batch.runs = batch.runs[:2]  # cancelled while SUBMITTING: two runs were submitted
    cohort.until_done()
    published.expect_event()

    cohort.report()

    report = json.loads(cohort.read("report.json"))
    assert [(row["runSettingId"], row["submissionStatus"]) for row in report] == [
        (IDS[0], "SUCCESS"),
        (IDS[1], "SUCCESS"),
        *((i, "FAILED") for i in IDS[2:]),
    ]
    assert {row["submissionFailureReason"] for row in report[2:]} == {"NotSubmitted"}
    assert [e["runSettingId"] for e in json.loads(cohort.read("retry-settings.json"))] == list(IDS[2:])


def test_a_batch_deleted_after_it_ended_is_reported_as_last_read(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    service.finish(cohort.first, failed={IDS[0]})
    cohort.until_done()
    service.batches[cohort.first].deleted = True  # DeleteBatch by someone, before the report
    published.expect_event()

    result = cohort.report()

    assert (result["status"], result["succeeded"]) == ("PROCESSED", False)
    detail = published.details()[0]
    assert (detail["counts"]["runs"], detail["counts"]["totalRuns"], detail["counts"]["failed"]) == (6, 6, 1)


def test_a_run_id_reused_by_another_batchs_run_never_decides_a_row(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    """A run of the cohort was deleted, and HealthOmics gave its id to a run of another batch, which
    FAILED: ListRuns (by batch) no longer lists it, GetRun answers with the other run. The row stays
    unknown: not FAILED, not in the retry file, and the cohort not clean."""
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    batch = service.finish(cohort.first)
    own = batch.runs[1]
    own.deleted = True
    batch._started = None
    other = service.StartRunBatch(
        {
            "requestId": "elsewhere",
            "defaultRunSetting": DEFAULT,
            "batchRunSettings": {"inlineSettings": [{"runSettingId": "x"}]},
        }
    )
    service.finish(str(other["id"]), failed={"x"})
    service.batches[str(other["id"])].runs[0].run_id = own.run_id  # the id, reused
    cohort.until_done()
    published.expect_event()

    result = cohort.report()

    report = {row["runSettingId"]: row for row in json.loads(cohort.read("report.json"))}
    reused = report[own.setting_id]
    assert (reused["runId"], reused["runUuid"], reused["runStatus"]) == (own.run_id, own.uuid, "")
    assert result["succeeded"] is False  # unknown keeps the cohort from being clean
    assert "retry-settings.json" not in cohort_keys(s3, cohort.first)


@pytest.mark.parametrize(
    ("status", "failed"), [("CANCELLED", set()), ("PROCESSED", {"sample-1"})], ids=["cancelled", "a failed run"]
)
def test_the_cohort_succeeded_only_when_every_run_completed(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded, status: str, failed: set[str]
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    service.finish(cohort.first, failed=failed, status=status)
    cohort.until_done()
    published.expect_event()

    assert cohort.report()["succeeded"] is False


# --- retries of the report -------------------------------------------------------------------------


def test_a_repeated_report_writes_the_same_files_again(
    service: HealthOmics, s3: Any, cohort_clients: Clients, published: Recorded
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    service.finish(cohort.first, failed={"sample-1"})
    cohort.until_done()
    published.expect_event()
    published.expect_event()

    cohort.report()
    names = ("report.json", "report.csv", "retry-settings.json", "report.html")
    first = {name: cohort.read(name) for name in names}
    cohort.report()  # after throttling, Step Functions runs it again

    assert {name: cohort.read(name) for name in first} == first
    assert len(published.details()) == 2  # delivered at least once


def test_a_refused_event_entry_fails_the_report(
    service: HealthOmics, s3: Any, cohort_clients: Clients, events: StubbedClient
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    service.finish(cohort.first)
    cohort.until_done()
    events.add("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "AccessDeniedException"}]})

    with pytest.raises(ApiError, match=r"PutEvents failed for batch .*AccessDeniedException"):
        cohort.report()


def test_a_throttled_event_entry_raises_throttled(
    service: HealthOmics, s3: Any, cohort_clients: Clients, events: StubbedClient
) -> None:
    cohort = Cohort(service, s3, cohort_clients, resubmission=None)
    service.finish(cohort.first)
    cohort.until_done()
    events.add("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]})

    with pytest.raises(Throttled, match="PutEvents failed"):
        cohort.report()


@pytest.mark.parametrize("uri", [None, "https://bucket/x/", "s3://", "s3:///x/"])
def test_a_report_without_an_s3_prefix_is_refused(cohort_clients: Clients, uri: object) -> None:
    with pytest.raises(BadEvent, match="reportUri must be an s3:// prefix"):
        handle(
            {"action": "report", "batchId": "4455667", "cohort": None, "config": config(reportUri=uri)}, cohort_clients
        )


def test_a_report_prefix_without_its_slash_gets_one(service: HealthOmics, s3: Any, cohort_clients: Clients) -> None:
    from tracker.cohort import Config

    found = Config.from_event({"config": config(reportUri=REPORT_URI.rstrip("/"))}, "4455667")

    assert found.report_uri == REPORT_URI


# --- big files --------------------------------------------------------------------------------------


def test_a_big_file_goes_up_in_parts_and_reads_back_whole(s3: Any) -> None:
    """A million-row report is hundreds of MB: written in parts, never held whole."""
    uri = f"s3://{REPORT_BUCKET}/runs/big.json"
    items = [{"runSettingId": f"S{i:06d}", "pad": "x" * 100} for i in range(60_000)]
    writer = files.S3Writer(s3, uri, files.JSON, "4455667", part_bytes=5 << 20)
    array = files.JsonArrayWriter(writer)
    for item in items:
        array.add(item)
    array.close()
    writer.close()

    head = s3.head_object(Bucket=REPORT_BUCKET, Key="runs/big.json")
    assert "-" in head["ETag"]  # a multipart upload's ETag names its parts
    assert json.loads(s3.get_object(Bucket=REPORT_BUCKET, Key="runs/big.json")["Body"].read()) == items
    s3.delete_object(Bucket=REPORT_BUCKET, Key="runs/big.json")
