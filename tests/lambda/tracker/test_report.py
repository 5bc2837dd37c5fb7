"""``report``: the per-run files in S3, the retry file, the completion event and message."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from tracker_testkit import (
    BATCH_ARN,
    BATCH_ID,
    OUTPUT_URI,
    REPORT_BUCKET,
    REPORT_URI,
    SETTINGS_BUCKET,
    SETTINGS_KEY,
    SETTINGS_URI,
    TOPIC_ARN,
    Recorded,
    StubbedClient,
    batch,
    expect_listings,
    runs,
    settings_entries,
)

from omics_common.clients import Clients
from omics_common.errors import ApiError
from tracker.errors import BadEvent, Throttled
from tracker.index import handle
from tracker.report import COLUMNS, ReportRequest

PREFIX = f"runs/batch-reports/batch-{BATCH_ID}/"
JSON_URI = f"{REPORT_URI}batch-{BATCH_ID}/report.json"
CSV_URI = f"{REPORT_URI}batch-{BATCH_ID}/report.csv"
RETRY_URI = f"{REPORT_URI}batch-{BATCH_ID}/retry-settings.json"
GET = {"batchId": BATCH_ID}
WITH_OUTPUT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run", "outputUri": OUTPUT_URI}

CLEAN = runs(*((f"sample-{n}", "SUCCESS", "COMPLETED") for n in range(1, 6)))
MIXED = runs(
    ("sample-1", "SUCCESS", "COMPLETED"),
    ("sample-2", "FAILED", None),
    ("sample-3", "SUCCESS", "FAILED"),
    ("sample-4", "SUCCESS", "CANCELLED"),
    ("sample-5", "SUCCESS", "COMPLETED"),
    ("sample-6", "SUCCESS", "FAILED"),
)
# The settings file's order differs from the listing's: the retry file keeps the file's.
MIXED_SETTINGS = settings_entries(["sample-6", "sample-1", "sample-3", "sample-5", "sample-2", "sample-4"])


def report_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "action": "report",
        "batchId": BATCH_ID,
        "status": "PROCESSED",
        "settingsUri": SETTINGS_URI,
        "reportUri": REPORT_URI,
        "topicArn": None,
    }
    event.update(overrides)
    return event


def put_settings(s3: Any, entries: Any) -> None:
    s3.put_object(Bucket=SETTINGS_BUCKET, Key=SETTINGS_KEY, Body=json.dumps(entries).encode())


def read(s3: Any, name: str) -> bytes:
    body: bytes = s3.get_object(Bucket=REPORT_BUCKET, Key=PREFIX + name)["Body"].read()
    return body


def report_keys(s3: Any) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=REPORT_BUCKET).get("Contents", []))


def csv_rows(data: bytes) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


# --- a clean batch -----------------------------------------------------------------------


def test_a_clean_batch_is_reported_run_by_run_across_pages(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    entries = settings_entries(run.setting_id for run in CLEAN)
    entries[1]["outputUri"] = "s3://elsewhere/sample-2"  # a run with its own output location
    put_settings(s3, entries)
    omics.add("get_batch", batch("PROCESSED", totalRuns=5, defaultRunSetting=WITH_OUTPUT), GET)
    expect_listings(omics, CLEAN, page_size=2)
    published.expect_event()

    result = handle(report_event(), clients)
    detail = published.details()[-1]  # the summary, as the completion event carries it

    counts = {"runs": 5, "submitted": 5, "submissionFailed": 0, "completed": 5, "failed": 0, "cancelled": 0}
    counts |= {"deleted": 0, "notFinished": 0, "statusUnknown": 0, "retry": 0, "totalRuns": 5}
    assert result == {"succeeded": True, "status": "PROCESSED", "reportJsonUri": JSON_URI}
    assert (detail["counts"], detail["reportCsvUri"], detail["retrySettingsUri"]) == (counts, CSV_URI, None)
    assert (detail["failureReason"], detail["settingsError"]) == ("", None)
    assert report_keys(s3) == [PREFIX + "report.csv", PREFIX + "report.json"]  # no retry file
    report = json.loads(read(s3, "report.json"))
    assert report[0] == {
        "runSettingId": "sample-1",
        "runId": "1001",
        "runArn": "arn:aws:omics:us-east-1:123456789012:run/1001",
        "runName": "run-sample-1",
        "submissionStatus": "SUCCESS",
        "submissionFailureReason": "",
        "submissionFailureMessage": "",
        "runStatus": "COMPLETED",
        "startTime": "2026-04-01T08:00:00+00:00",
        "stopTime": "2026-04-01T10:00:00+00:00",
        "outputLocation": f"{OUTPUT_URI}1001/",
    }
    assert [row["runSettingId"] for row in report] == [run.setting_id for run in CLEAN]
    assert report[1]["outputLocation"] == "s3://elsewhere/sample-2/1002/"
    assert csv_rows(read(s3, "report.csv")) == report


def test_the_completion_event_carries_the_summary(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    put_settings(s3, settings_entries(run.setting_id for run in CLEAN))
    omics.add("get_batch", batch("PROCESSED"), GET)
    expect_listings(omics, CLEAN, page_size=100)
    published.expect_event()

    handle(report_event(), clients)

    [entry] = published.event_entries()
    assert (entry["Source"], entry["DetailType"]) == ("omics-batch-construct", "Omics Run Batch Completed")
    assert entry["Resources"] == [BATCH_ARN]
    assert "EventBusName" not in entry  # the default bus
    detail = json.loads(entry["Detail"])
    assert detail == {
        "batchId": BATCH_ID,
        "batchArn": BATCH_ARN,
        "batchName": "cohort-a",
        "status": "PROCESSED",
        "succeeded": True,
        "counts": {
            "runs": 5,
            "submitted": 5,
            "submissionFailed": 0,
            "completed": 5,
            "failed": 0,
            "cancelled": 0,
            "deleted": 0,
            "notFinished": 0,
            "statusUnknown": 0,
            "retry": 0,
            "totalRuns": 3,
        },
        "reportJsonUri": JSON_URI,
        "reportCsvUri": CSV_URI,
        "retrySettingsUri": None,
        "failureReason": "",
        "settingsError": None,
    }
    assert published.messages() == []  # no topic, no message


# --- failures and the retry file ---------------------------------------------------------


def test_failed_submissions_and_failed_runs_go_to_the_retry_file_in_original_order(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    put_settings(s3, MIXED_SETTINGS)
    omics.add("get_batch", batch("PROCESSED", totalRuns=6), GET)
    expect_listings(omics, MIXED, page_size=4)
    published.expect_event()
    published.expect_message()

    result = handle(report_event(topicArn=TOPIC_ARN), clients)
    detail = published.details()[-1]  # the summary, as the completion event carries it

    by_id = {entry["runSettingId"]: entry for entry in MIXED_SETTINGS}
    assert json.loads(read(s3, "retry-settings.json")) == [by_id["sample-6"], by_id["sample-3"], by_id["sample-2"]]
    assert result["succeeded"] is False
    assert detail["retrySettingsUri"] == RETRY_URI
    assert detail["counts"] == {
        "runs": 6,
        "submitted": 5,
        "submissionFailed": 1,
        "completed": 2,
        "failed": 2,
        "cancelled": 1,
        "deleted": 0,
        "notFinished": 0,
        "statusUnknown": 0,
        "retry": 3,
        "totalRuns": 6,
    }
    report = json.loads(read(s3, "report.json"))
    assert report[1]["submissionFailureReason"] == "ServiceQuotaExceeded"
    assert (report[1]["runId"], report[1]["runStatus"], report[1]["outputLocation"]) == ("", "", "")
    assert csv_rows(read(s3, "report.csv")) == report  # commas and quotes survive
    [detail] = published.details()
    assert detail["retrySettingsUri"] == RETRY_URI


def test_the_summary_goes_to_the_topic_when_one_is_given(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    put_settings(s3, MIXED_SETTINGS)
    omics.add("get_batch", batch("PROCESSED"), GET)
    expect_listings(omics, MIXED, page_size=100)
    published.expect_event()
    published.expect_message()

    handle(report_event(topicArn=TOPIC_ARN), clients)

    [message] = published.messages()
    assert message["TopicArn"] == TOPIC_ARN
    assert message["Subject"] == f"HealthOmics run batch {BATCH_ID} PROCESSED: needs attention"
    assert len(message["Subject"]) <= 100
    assert json.loads(message["Message"]) == published.details()[0]
    assert message["MessageAttributes"]["succeeded"] == {"DataType": "String", "StringValue": "false"}
    assert message["MessageAttributes"]["status"]["StringValue"] == "PROCESSED"


def test_inline_settings_serve_the_retry_file(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    omics.add("get_batch", batch("PROCESSED"), GET)
    expect_listings(omics, MIXED, page_size=100)
    published.expect_event()

    handle(report_event(settingsUri=None, settings=MIXED_SETTINGS), clients)
    detail = published.details()[-1]  # the summary, as the completion event carries it

    assert detail["settingsError"] is None
    assert [e["runSettingId"] for e in json.loads(read(s3, "retry-settings.json"))] == [
        "sample-6",
        "sample-3",
        "sample-2",
    ]


def test_a_failed_run_listruns_no_longer_lists_is_read_with_getrun_and_retried(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    """The command did this and the tracker did not: both now ask GetRun (outcome.batch_rows)."""
    forgotten = runs(("sample-1", "SUCCESS", "COMPLETED"), ("sample-2", "SUCCESS", None))
    put_settings(s3, settings_entries(["sample-1", "sample-2"]))
    omics.add("get_batch", batch("PROCESSED"), GET)
    expect_listings(omics, forgotten, page_size=100)
    omics.add("get_run", {"id": forgotten[1].run_id, "name": "run-sample-2", "status": "FAILED"}, {"id": "1002"})
    published.expect_event()

    result = handle(report_event(), clients)
    detail = published.details()[-1]

    assert result["succeeded"] is False
    assert (detail["counts"]["failed"], detail["counts"]["statusUnknown"], detail["counts"]["retry"]) == (1, 0, 1)
    assert [entry["runSettingId"] for entry in json.loads(read(s3, "retry-settings.json"))] == ["sample-2"]
    report = json.loads(read(s3, "report.json"))
    assert (report[1]["runStatus"], report[1]["runName"]) == ("FAILED", "run-sample-2")


# --- settings that cannot serve --------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (None, "s3://cdk-assets/0f3e5a.json: cannot be read: NoSuchKey"),
        (b'[{"runSettingId": "sample-1"}, {"runSettingId": ', "s3://cdk-assets/0f3e5a.json: not valid JSON"),
        (b'{"runSettingId": "sample-1"}', "s3://cdk-assets/0f3e5a.json: expected a JSON array of run settings"),
        (b'[{"runSettingId": 7}]', "s3://cdk-assets/0f3e5a.json: entry 0 has no runSettingId"),
    ],
)
def test_unreadable_settings_leave_a_report_without_retry_file(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded, settings: bytes | None, error: str
) -> None:
    if settings is not None:
        s3.put_object(Bucket=SETTINGS_BUCKET, Key=SETTINGS_KEY, Body=settings)
    omics.add("get_batch", batch("PROCESSED"), GET)
    expect_listings(omics, MIXED, page_size=100)
    published.expect_event()

    handle(report_event(), clients)
    detail = published.details()[-1]  # the summary, as the completion event carries it

    assert detail["settingsError"] is not None and detail["settingsError"].startswith(error)
    assert detail["retrySettingsUri"] is None
    assert report_keys(s3) == [PREFIX + "report.csv", PREFIX + "report.json"]


def test_failed_runs_missing_from_the_settings_are_counted(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    put_settings(s3, [e for e in MIXED_SETTINGS if e["runSettingId"] != "sample-3"])
    omics.add("get_batch", batch("PROCESSED"), GET)
    expect_listings(omics, MIXED, page_size=100)
    published.expect_event()

    handle(report_event(), clients)
    detail = published.details()[-1]  # the summary, as the completion event carries it

    assert detail["settingsError"] == "1 failed runs are not in the run settings"
    assert detail["counts"]["retry"] == 2


def test_without_settings_a_failure_says_why_there_is_no_retry_file(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    omics.add("get_batch", batch("PROCESSED"), GET)
    expect_listings(omics, MIXED, page_size=100)
    published.expect_event()

    handle(report_event(settingsUri=None), clients)
    detail = published.details()[-1]  # the summary, as the completion event carries it

    assert (detail["retrySettingsUri"], detail["settingsError"]) == (None, "no run settings were given")


# --- how the batch ended ---------------------------------------------------------------


def test_a_batch_that_failed_validation_has_an_empty_report_and_its_reason(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    reason = "Expected 50 unique runSettingIds but there were 49"
    omics.add("get_batch", batch("FAILED", failureReason=reason, totalRuns=50), GET)
    expect_listings(omics, [], page_size=100)
    published.expect_event()

    result = handle(report_event(status=None, settingsUri=None), clients)  # status: GetBatch's
    detail = published.details()[-1]  # the summary, as the completion event carries it

    assert (result["status"], result["succeeded"], detail["failureReason"]) == ("FAILED", False, reason)
    assert json.loads(read(s3, "report.json")) == []
    assert csv_rows(read(s3, "report.csv")) == []
    assert (detail["counts"]["runs"], detail["counts"]["totalRuns"]) == (0, 50)


def test_a_cancelled_batch_did_not_succeed_even_without_failures(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    under_way = runs(("sample-1", "SUCCESS", "COMPLETED"), ("sample-2", "CANCEL_SUCCESS", "STOPPING"))
    under_way += runs(("sample-3", "SUCCESS", None))  # submitted, but neither ListRuns nor GetRun knows it
    omics.add("get_batch", batch("CANCELLED"), GET)
    expect_listings(omics, under_way, page_size=100)
    omics.error("get_run", "ResourceNotFoundException", 404, {"id": under_way[2].run_id})
    published.expect_event()

    result = handle(report_event(status="CANCELLED", settingsUri=None), clients)
    detail = published.details()[-1]  # the summary, as the completion event carries it

    assert result["succeeded"] is False
    assert detail["settingsError"] is None  # nothing to retry, so nothing missing
    assert (detail["counts"]["notFinished"], detail["counts"]["statusUnknown"]) == (1, 1)


# --- retries -----------------------------------------------------------------------------


def test_throttled_listing_raises_throttled(omics: StubbedClient, s3: Any, clients: Clients) -> None:
    omics.add("get_batch", batch("PROCESSED"), GET)
    omics.add("list_runs", {"items": [], "nextToken": "list_runs-1"}, {"batchId": BATCH_ID, "maxResults": 100})
    omics.error("list_runs", "ThrottlingException", 429)

    with pytest.raises(Throttled, match=f"ListRuns failed for batch {BATCH_ID}: ThrottlingException"):
        handle(report_event(), clients)


def test_a_repeated_report_overwrites_the_same_files(
    omics: StubbedClient, s3: Any, clients: Clients, published: Recorded
) -> None:
    put_settings(s3, MIXED_SETTINGS)
    for _ in range(2):
        omics.add("get_batch", batch("PROCESSED"), GET)
        expect_listings(omics, MIXED, page_size=100)
        published.expect_event()

    first = handle(report_event(), clients)
    files = {key: read(s3, key.removeprefix(PREFIX)) for key in report_keys(s3)}
    second = handle(report_event(), clients)

    assert first == second
    assert {key: read(s3, key.removeprefix(PREFIX)) for key in report_keys(s3)} == files
    assert len(files) == 3


@pytest.mark.parametrize(("code", "error"), [("ThrottlingException", Throttled), ("AccessDeniedException", ApiError)])
def test_a_refused_event_entry_fails_the_report(
    omics: StubbedClient, events: StubbedClient, s3: Any, clients: Clients, code: str, error: type[Exception]
) -> None:
    omics.add("get_batch", batch("PROCESSED"), GET)
    expect_listings(omics, CLEAN, page_size=100)
    events.add("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": code, "ErrorMessage": "no"}]})

    with pytest.raises(error, match=f"PutEvents failed for batch {BATCH_ID}: {code}"):
        handle(report_event(settingsUri=None), clients)


@pytest.mark.parametrize("uri", [None, "https://bucket/prefix/", 7, "s3://", "s3:///prefix/"])
def test_a_report_without_an_s3_prefix_is_refused(clients: Clients, uri: object) -> None:
    with pytest.raises(BadEvent, match="reportUri must be an s3:// prefix"):
        handle(report_event(reportUri=uri), clients)


def test_a_report_prefix_without_its_slash_gets_one() -> None:
    request = ReportRequest.from_event(report_event(reportUri="s3://bucket/reports"), BATCH_ID)

    assert request.uri("report.json") == f"s3://bucket/reports/batch-{BATCH_ID}/report.json"
