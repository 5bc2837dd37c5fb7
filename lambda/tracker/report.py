"""``report``: per-run report files, a retry file, and the completion event.

Written under ``<reportUri>batch-<batchId>/``:

- ``report.json``: a JSON array, one object a line, one per run, keys ``COLUMNS``;
- ``report.csv``: the same objects as rows under a header of ``COLUMNS``;
- ``retry-settings.json``: the original settings entries of the runs whose submission
  or run FAILED, in their original order, ready to be a new batch's s3UriSettings; only
  written when some run failed.

Every value in the report is a string, empty when unknown, so the CSV reads back to the
JSON exactly. The same keys are written again on a retried report (after throttling),
so a repeat overwrites rather than adds. The runs are held once, as tuples; each file is
built in memory and uploaded with one PutObject, then dropped before the next: 100,000
runs make 36 MB of JSON and 17 MB of CSV, and the whole report peaks at about 105 MB of
Python allocations (benchmarks/tracker_report.py).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from omics_common import outcome
from omics_common.clients import Client, Clients
from omics_common.errors import call, shorten
from omics_common.outcome import RunRow, Selection, SettingsError

from . import publish
from .errors import BadEvent
from .status import get_batch

logger = logging.getLogger(__name__)

REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"
RETRY_SETTINGS = "retry-settings.json"
COLUMNS = (*RunRow._fields, "outputLocation")
CONTENT_TYPES = {
    REPORT_JSON: "application/json",
    REPORT_CSV: "text/csv; charset=utf-8",
    RETRY_SETTINGS: "application/json",
}
FAILURE_REASON_LIMIT = 1000


@dataclass(frozen=True)
class ReportRequest:
    """The ``report`` action's input, as the state machine sends it."""

    batch_id: str
    status: str | None  # the status Check saw; GetBatch's when absent
    report_uri: str  # s3://bucket/prefix/ (a "/" is added when missing)
    settings_uri: str | None  # the s3UriSettings file, or
    settings: list[Any] | None  # the inlineSettings entries (batches of up to 100 runs)
    topic_arn: str | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any], batch_id: str) -> ReportRequest:
        report_uri = event.get("reportUri")
        if not isinstance(report_uri, str) or not report_uri.startswith("s3://") or report_uri[5:6] in ("", "/"):
            raise BadEvent(f"report for batch {batch_id}: reportUri must be an s3:// prefix, not {report_uri!r}")
        inline = event.get("settings")
        if isinstance(inline, str):
            # The construct sends token-free runs as JSON text, which keeps null members,
            # big integers and floats exactly as the API has them.
            try:
                inline = json.loads(inline)
            except json.JSONDecodeError as err:
                raise BadEvent(f"report for batch {batch_id}: settings is not valid JSON: {err.msg}") from err
        if inline is not None and not isinstance(inline, list):
            raise BadEvent(f"report for batch {batch_id}: settings must be a list of run settings")
        return cls(
            batch_id=batch_id,
            status=event.get("status") or None,
            report_uri=report_uri if report_uri.endswith("/") else report_uri + "/",
            settings_uri=event.get("settingsUri") or None,
            settings=inline,
            topic_arn=event.get("topicArn") or None,
        )

    def uri(self, name: str) -> str:
        """Where the report file ``name`` of this batch goes."""
        return f"{self.report_uri}batch-{self.batch_id}/{name}"


class ReportResult(TypedDict):
    """What ``report`` returns to the state machine: what its Choice and Fail read."""

    succeeded: bool
    status: str
    reportJsonUri: str


def report(clients: Clients, request: ReportRequest) -> ReportResult:
    """List every run, write the files, publish the summary; return the summary."""
    batch = get_batch(clients.omics, request.batch_id)
    rows = outcome.batch_rows(clients.omics, request.batch_id)
    found, settings_error = read_settings(clients.s3, request, outcome.retry_ids(rows))
    retry_uri = write_files(clients.s3, request, batch, rows, found)
    detail = summary(request, batch, rows, len(found.entries), retry_uri, settings_error)
    logger.info("Batch %s report: %s", request.batch_id, json.dumps(detail))
    publish.put_event(clients.events, request.batch_id, detail["batchArn"], detail)
    if request.topic_arn:
        publish.notify(clients.sns, request.topic_arn, request.batch_id, detail)
    return result(detail)


def write_files(
    s3: Client, request: ReportRequest, batch: Mapping[str, Any], rows: list[RunRow], found: Selection
) -> str | None:
    """Write report.json, report.csv and (if any run failed) the retry file; its URI or None."""
    default_output = str((batch.get("defaultRunSetting") or {}).get("outputUri") or "")
    put(s3, request, REPORT_JSON, json_array(records(rows, found.output_uris, default_output)))
    put(s3, request, REPORT_CSV, csv_table(records(rows, found.output_uris, default_output)))
    return put(s3, request, RETRY_SETTINGS, json_array(found.entries)) if found.entries else None


def summary(
    request: ReportRequest,
    batch: Mapping[str, Any],
    rows: list[RunRow],
    retries: int,
    retry_uri: str | None,
    settings_error: str | None,
) -> dict[str, Any]:
    """The completion event's detail: how the batch ended, in counts, and where the files are."""
    status = request.status or str(batch.get("status", ""))
    counts = {**outcome.counts(rows), "retry": retries, "totalRuns": int(batch.get("totalRuns") or 0)}
    return {
        "batchId": request.batch_id,
        "batchArn": str(batch.get("arn", "")),
        "batchName": str(batch.get("name", "")),
        "status": status,
        "succeeded": outcome.is_clean(status, counts),
        "counts": counts,
        "reportJsonUri": request.uri(REPORT_JSON),
        "reportCsvUri": request.uri(REPORT_CSV),
        "retrySettingsUri": retry_uri,
        "failureReason": shorten(str(batch.get("failureReason") or ""), FAILURE_REASON_LIMIT),
        "settingsError": settings_error,
    }


def result(detail: Mapping[str, Any]) -> ReportResult:
    """The state machine's view of the summary."""
    return {"succeeded": detail["succeeded"], "status": detail["status"], "reportJsonUri": detail["reportJsonUri"]}


# --- the original run settings -----------------------------------------------------------


def read_settings(s3: Client, request: ReportRequest, failed_ids: frozenset[str]) -> tuple[Selection, str | None]:
    """The failed runs' settings and the output URIs runs set, and why a retry file is missing or
    partial (if so). A settings file that cannot be read does not stop the report."""
    entries: Iterable[dict[str, Any]]
    if request.settings is not None:
        entries = outcome.settings_entries(request.settings, "the inline run settings")
    elif request.settings_uri:
        entries = outcome.s3_settings(s3, request.settings_uri, request.batch_id)
    else:
        return Selection(), "no run settings were given" if failed_ids else None
    try:
        found = outcome.select(entries, failed_ids)
    except SettingsError as err:
        logger.warning("Batch %s: %s; the report has no retry file", request.batch_id, err)
        return Selection(), str(err)
    if found.missing:
        logger.warning("Batch %s: %d failed runs are not in the run settings", request.batch_id, len(found.missing))
        return found, f"{len(found.missing)} failed runs are not in the run settings"
    return found, None


# --- the files ------------------------------------------------------------------------


def output_location(run_id: str, output_uri: str) -> str:
    """Where HealthOmics writes a batch run's outputs: ``<outputUri><runId>/``."""
    if not run_id or not output_uri:
        return ""
    return f"{output_uri.rstrip('/')}/{run_id}/"


def records(rows: Iterable[RunRow], output_uris: Mapping[str, str], default_output: str) -> Iterator[dict[str, str]]:
    """The report's objects, made one at a time (each file is written in one pass)."""
    for row in rows:
        record = row._asdict()
        record["outputLocation"] = output_location(row.runId, output_uris.get(row.runSettingId) or default_output)
        yield record


def json_array(items: Iterable[Any]) -> io.BytesIO:
    """A JSON array, one element a line (diffable and greppable), as UTF-8."""
    out = io.BytesIO()
    out.write(b"[")
    separator = b"\n"
    for item in items:
        out.write(separator)
        out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
        separator = b",\n"
    out.write(b"\n]\n")
    return out


def csv_table(items: Iterable[Mapping[str, str]]) -> io.BytesIO:
    """The items as CSV rows under a header of ``COLUMNS``, as UTF-8."""
    out = io.BytesIO()
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(items)
    text.flush()
    text.detach()  # leave ``out`` open for the upload
    return out


def put(s3: Client, request: ReportRequest, name: str, body: io.BytesIO) -> str:
    """Upload ``body`` as the report file ``name`` (overwriting a previous attempt's)."""
    uri = request.uri(name)
    bucket, key = outcome.split_s3_uri(uri)
    size = body.tell()
    body.seek(0)
    call(s3, "PutObject", request.batch_id, Bucket=bucket, Key=key, Body=body, ContentType=CONTENT_TYPES[name])
    logger.info("Batch %s: wrote %s (%d bytes)", request.batch_id, uri, size)
    return uri
