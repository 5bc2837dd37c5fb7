"""``report``: the cohort's report, its retry file, and the completion event.

Written under the cohort's folder, ``<reportUri>batch-<first batch id>/``:

- ``report.json``: a JSON array, one object a line, one per run setting of the cohort with
  its last attempt, keys ``COLUMNS`` (the run's own, then ``outputLocation``, ``attempt``,
  ``batchId``, and what the run cost and why it failed: ``tracker.insight``);
- ``report.csv``: the same objects as rows under a header of ``COLUMNS``;
- ``retry-settings.json``: the original settings entries of the runs still FAILED after the
  last attempt, part by part in their original order, ready to be a new batch's
  s3UriSettings; only written when some run failed;
- ``report.html``: the cohort at a glance, made from the same rows as they go by
  (``omics_batch_construct_runtime.reportpage``: aggregates only, tens of KB at any size).

Every value in the report is a string, empty when unknown, so the CSV reads back to the JSON
exactly. The files are streamed to S3 part by part of the cohort (one part, at most 100,000
rows, in memory at a time), and written again identically on a retried report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from omics_batch_construct_runtime import metrics, outcome, reportpage
from omics_batch_construct_runtime.clients import Client, Clients
from omics_batch_construct_runtime.errors import shorten
from omics_batch_construct_runtime.manifest import ManifestStore
from omics_batch_construct_runtime.outcome import RunRow, SettingsError
from omics_batch_construct_runtime.s3files import S3Writer

from . import cohort, files, insight, publish
from .cohort import Config, State
from .errors import BatchNotFound
from .status import get_batch

logger = logging.getLogger(__name__)

COLUMNS = (*RunRow._fields, "outputLocation", "attempt", "batchId", *insight.COLUMNS)
FAILURE_REASON_LIMIT = 1000


class ReportResult(TypedDict):
    """What ``report`` returns to the state machine: what its Choice and Fail read."""

    succeeded: bool
    status: str
    reportJsonUri: str


def report(clients: Clients, config: Config, state: State) -> ReportResult:
    """Write the cohort's files, publish the summary; return what the state machine reads."""
    config = config.with_manifest(ManifestStore(clients.s3, config.layout).read())
    batches = {b.batchId: _read(clients.omics, b) for b in state.batches}
    first = batches[config.first_batch_id]
    summary = reportpage.Summary()
    owners: set[str] = set()
    runs = insight.Insight(clients, config.layout, enabled=config.insight)
    retries, settings_errors = write_files(clients, config, state, batches, summary, owners, runs)
    deciding = deciding_batches(state, owners)
    status = cohort_status(state, batches, deciding)
    counts = {key: summary.counts[key] for key in outcome.COUNT_KEYS}
    counts["retry"] = retries.count
    counts["totalRuns"] = sum(int(batches[b.batchId].get("totalRuns") or 0) for b in state.batches if b.attempt == 1)
    detail: dict[str, Any] = {
        "batchId": config.first_batch_id,
        "batchArn": str(first.get("arn", "")),
        "batchName": str(first.get("name", "")),
        "status": status,
        # A part whose settings could not be read has rows missing: never clean.
        "succeeded": outcome.is_clean(status, counts) and not settings_errors,
        "counts": counts,
        "batchIds": [b.batchId for b in state.batches],
        "attempts": max(b.attempt for b in state.batches),
        "reportJsonUri": config.layout.report_json,
        "reportCsvUri": config.layout.report_csv,
        "reportHtmlUri": config.layout.report_html,
        "retrySettingsUri": retries.uri,
        "failureReason": shorten(_failure_reason(state, batches, deciding), FAILURE_REASON_LIMIT),
        "settingsError": "; ".join(settings_errors) or None,
        "cost": summary.digest.cost(),
        "failures": summary.digest.failure_groups(),
    }
    detail["reportHtmlUri"] = write_page(clients.s3, config.layout.report_html, summary, detail)
    logger.info("Cohort %s report: %s", config.first_batch_id, json.dumps(detail))
    metrics.publish(config.first_batch_id, final_metrics(state, batches, detail["cost"] if config.insight else None))
    result = {key: detail[key] for key in ("status", "succeeded", "counts", "reportJsonUri", "retrySettingsUri")}
    cohort.write_manifest(ManifestStore(clients.s3, config.layout), config, state, result=result)
    publish.put_event(clients.events, config.first_batch_id, detail["batchArn"], detail)
    if config.topic_arn:
        publish.notify(clients.sns, config.topic_arn, config.first_batch_id, detail)
    return {"succeeded": detail["succeeded"], "status": status, "reportJsonUri": detail["reportJsonUri"]}


def final_metrics(
    state: State, batches: Mapping[str, Mapping[str, Any]], cost: Mapping[str, Any] | None
) -> dict[str, float]:
    """The cohort's metrics at its end: the counts as the checks publish them (every attempt, from
    GetBatch's final summaries; a batch deleted since, as last read), and what it cost (only with an
    insight function: without one nothing was priced)."""
    counts = [
        metrics.batch_counts(answer) if "runSummary" in answer or "submissionSummary" in answer else b.counts
        for b, answer in ((b, batches[b.batchId]) for b in state.batches)
    ]
    values: dict[str, float] = {**metrics.cohort_counts(counts)}
    if cost is not None:
        values[metrics.COST_USD] = float(cost["totalUsd"])
    return values


def write_page(s3: Client, uri: str, summary: reportpage.Summary, detail: Mapping[str, Any]) -> str | None:
    """report.html, from the summary of the rows and the completion event's detail; its URI. A page
    that cannot be made is said in the log and left out (None): it is a view of the files written,
    never the reason a report fails. Writing it fails like the other files (and is tried again)."""
    batch_id = str(detail["batchId"])
    try:
        page = reportpage.render(summary, detail).encode()
    except Exception:  # a view's bug must not cost the cohort its completion event
        logger.exception("Cohort %s: report.html not made", batch_id)
        return None
    with S3Writer(s3, uri, files.HTML, batch_id) as out:
        out.write(page)
    return uri


def _read(omics: Any, batch: cohort.Batch) -> Mapping[str, Any]:
    """GetBatch of a batch of the cohort; what the tracker last read of it, if it was deleted since."""
    try:
        return get_batch(omics, batch.batchId)
    except BatchNotFound:
        logger.warning(
            "Batch %s was deleted since it ended: reporting it as last read (%s)", batch.batchId, batch.status
        )
        return {
            "id": batch.batchId,
            "status": batch.status,
            "totalRuns": batch.totalRuns,
            "failureReason": batch.failureReason,
        }


def deciding_batches(state: State, owners: set[str]) -> set[str]:
    """The batches whose ending decides the cohort's: all but those a later attempt of their part
    replaced whole (every run of theirs went again, so none holds a run's last attempt; one that
    FAILED transiently before submitting, say)."""
    superseded = {
        b.batchId
        for b in state.batches
        if b.batchId not in owners and any(o.part == b.part and o.attempt > b.attempt for o in state.batches)
    }
    return {b.batchId for b in state.batches} - superseded


def cohort_status(state: State, batches: Mapping[str, Mapping[str, Any]], deciding: set[str]) -> str:
    """PROCESSED when every deciding batch is; else the first other ending, in start order."""
    statuses = [str(batches[b.batchId].get("status", "")) for b in state.batches if b.batchId in deciding]
    return next((status for status in statuses if status != outcome.SUCCEEDED_STATUS), outcome.SUCCEEDED_STATUS)


def _failure_reason(state: State, batches: Mapping[str, Mapping[str, Any]], deciding: set[str]) -> str:
    reasons = [str(batches[b.batchId].get("failureReason") or "") for b in state.batches if b.batchId in deciding]
    return next((reason for reason in reasons if reason), "")


class _Retries:
    """The retry file, opened when its first entry comes (none when nothing failed)."""

    def __init__(self, s3: Client, uri: str, batch_id: str) -> None:
        self._s3, self._uri, self._batch_id = s3, uri, batch_id
        self._out: S3Writer | None = None
        self._array: files.JsonArrayWriter | None = None

    def add(self, entries: Iterable[dict[str, Any]]) -> None:
        for entry in entries:
            if self._array is None:
                self._out = S3Writer(self._s3, self._uri, files.JSON, self._batch_id)
                self._array = files.JsonArrayWriter(self._out)
            self._array.add(entry)

    @property
    def count(self) -> int:
        return self._array.count if self._array else 0

    @property
    def uri(self) -> str | None:
        return self._uri if self._out is not None else None

    def close(self) -> None:
        if self._array is not None and self._out is not None:
            self._array.close()
            self._out.close()

    def abort(self) -> None:
        if self._out is not None:
            self._out.abort()


def write_files(
    clients: Clients,
    config: Config,
    state: State,
    batches: Mapping[str, Mapping[str, Any]],
    summary: reportpage.Summary,
    owners: set[str],
    runs: insight.Insight,
) -> tuple[_Retries, list[str]]:
    """report.json, report.csv and the retry file, part by part; the retry file and why some of
    it is missing (a part's settings unreadable, or lacking failed runs); ``summary`` gets every
    row (the counts, the cost and failure digest, report.html's figures), ``owners`` the batches
    that hold a run's last attempt, ``runs`` each row's cost and failure (``insight``).

    A run setting of the part that no batch listed (its batch ended before submitting it) gets a
    row of its own, as a failed submission, and goes in the retry file."""
    s3, first = clients.s3, config.first_batch_id
    retries = _Retries(s3, config.layout.retry_settings, first)
    errors: list[str] = []
    owner = owning_parts(clients, config, state)
    report_json = S3Writer(s3, config.layout.report_json, files.JSON, first)
    report_csv = S3Writer(s3, config.layout.report_csv, files.CSV, first)
    try:
        json_rows, csv_rows = files.JsonArrayWriter(report_json), files.CsvWriter(report_csv, COLUMNS)
        for part in range(len(config.parts)):
            rows = cohort.part_rows(s3, config, state, part)
            failed = [row.runSettingId for row, _ in rows if outcome.is_failed(row)]
            listed = {row.runSettingId for row, _ in rows}
            output_uris: Mapping[str, str] = {}
            try:
                found = outcome.select(config.parts[part].entries(s3, first), failed, listed)
            except SettingsError as err:
                logger.warning("Cohort %s part %d: %s; its failed runs are not in the retry file", first, part, err)
                errors.append(str(err))
            else:
                output_uris = found.output_uris
                retries.add(found.entries)
                if found.missing:
                    errors.append(f"{len(found.missing)} failed runs are not in the run settings")
                given = next(b for b in state.batches if b.part == part and b.attempt == 1)  # done: every part started
                answer = batches[given.batchId]
                status, reason = str(answer.get("status") or ""), str(answer.get("failureReason") or "")
                rows.extend((outcome.unsubmitted_row(i, given.batchId, status, reason), given) for i in found.unlisted)
            if owner is not None:  # a growing cohort: each sample the stack has, once, with its latest part
                rows = [(row, batch) for row, batch in rows if owner.get(row.runSettingId) == part]
            records = runs.part(b.batchId for b in state.batches if b.part == part)
            looked_up: list[dict[str, str]] = []
            for row, batch in rows:
                owners.add(batch.batchId)
                ran = runs.record(row, batch.batchId, records, looked_up)
                row = insight.completed(row, ran)
                own = output_uris.get(row.runSettingId) or config.default_output
                record = {**row._asdict(), "outputLocation": output_location(row.runId, own)}
                record.update(attempt=str(batch.attempt), batchId=batch.batchId, **insight.columns(ran))
                summary.add(record)
                json_rows.add(record)
                csv_rows.add(record)
            runs.keep(looked_up)
        json_rows.close()
        csv_rows.close()
        report_json.close()
        report_csv.close()
        retries.close()
    except BaseException:
        for writer in (report_json, report_csv):
            writer.abort()
        retries.abort()
        raise
    return retries, errors


def owning_parts(clients: Clients, config: Config, state: State) -> dict[str, int] | None:
    """For a cohort that grew over revisions: which part holds each sample the stack has now, the
    latest that has it (a sample whose settings changed was submitted again in a later revision's
    part); samples no longer in the stack are in none. None for a cohort of one revision: every row
    of every part counts, as it comes.

    One pass over the parts, newest first: the rows their batches listed, and the settings the
    batches never listed (reported as not submitted). Held: one id per sample, not its row."""
    if not config.current:
        return None
    current: set[str] = set()
    for uri in config.current:
        current.update(entry["runSettingId"] for entry in outcome.s3_settings(clients.s3, uri, config.first_batch_id))
    owner: dict[str, int] = {}
    for part in reversed(range(len(config.parts))):
        for row, _ in cohort.part_rows(clients.s3, config, state, part):
            if row.runSettingId in current:
                owner.setdefault(row.runSettingId, part)
        try:
            for entry in config.parts[part].entries(clients.s3, config.first_batch_id):
                if entry["runSettingId"] in current:
                    owner.setdefault(entry["runSettingId"], part)
        except SettingsError:
            pass  # said when the part is written
    return owner


def output_location(run_id: str, output_uri: str) -> str:
    """Where HealthOmics writes a batch run's outputs: ``<outputUri><runId>/``."""
    if not run_id or not output_uri:
        return ""
    return f"{output_uri.rstrip('/')}/{run_id}/"
