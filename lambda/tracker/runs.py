"""Every run of a batch, with its submission and its run status, from two listings.

ListRunsInBatch maps each runSettingId to its submission (and run id); ListRuns,
filtered by batch id, gives each run's status and times. Neither returns a run's output
location (only GetRun does, one call per run), so the report derives it the way
HealthOmics names it for batch runs: ``<outputUri><runId>/``.

Both listings return at most 100 items a page: 100,000 runs are 2,000 calls, made one
after the other (about 3 to 7 minutes at HealthOmics' usual latency). Each run is kept
once, as a tuple of strings: the ListRuns entry is removed as its row is made.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from omics_common.errors import call

from .clients import Client

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # the model's maximum, for ListRunsInBatch and ListRuns alike

SUBMISSION_FAILED = "FAILED"
RUN_FAILED = "FAILED"
# Run statuses by the count they go to; any other status (one added later) is "unknown".
RUN_STATUS_COUNTS = {
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
    "DELETED": "deleted",
    "PENDING": "notFinished",
    "STARTING": "notFinished",
    "RUNNING": "notFinished",
    "STOPPING": "notFinished",
}
COUNT_KEYS = (
    "runs",
    "submitted",
    "submissionFailed",
    "completed",
    "failed",
    "cancelled",
    "deleted",
    "notFinished",
    "statusUnknown",
)


class RunStatus(NamedTuple):
    """What ListRuns says of one run."""

    name: str
    status: str
    startTime: str
    stopTime: str


class RunRow(NamedTuple):
    """One run of the batch: a row of the report (but its derived output location).

    Field names are the report's column names; every value is a string, empty when
    not known (no run id for a failed submission, no status for a run ListRuns missed).
    """

    runSettingId: str
    runId: str
    runArn: str
    runName: str
    submissionStatus: str
    submissionFailureReason: str
    submissionFailureMessage: str
    runStatus: str
    startTime: str
    stopTime: str


def pages(client: Client, operation: str, batch_id: str, items_key: str, **params: Any) -> Iterator[Mapping[str, Any]]:
    """The items of every page of a HealthOmics listing, fetched as consumed."""
    token: str | None = None
    while True:
        page = call(client, operation, batch_id, **params, **({"startingToken": token} if token else {}))
        yield from page.get(items_key, [])
        token = page.get("nextToken")
        if not token:
            return


def run_statuses(omics: Client, batch_id: str) -> dict[str, RunStatus]:
    """ListRuns of the batch, by run id."""
    found: dict[str, RunStatus] = {}
    for run in pages(omics, "ListRuns", batch_id, "items", batchId=batch_id, maxResults=PAGE_SIZE):
        found[str(run.get("id", ""))] = RunStatus(
            name=str(run.get("name") or ""),
            status=str(run.get("status") or ""),
            startTime=_timestamp(run.get("startTime")),
            stopTime=_timestamp(run.get("stopTime")),
        )
    return found


def batch_runs(omics: Client, batch_id: str) -> list[RunRow]:
    """Every run of the batch in ListRunsInBatch's order, joined with its ListRuns entry."""
    statuses = run_statuses(omics, batch_id)
    listed = len(statuses)
    rows = [
        _row(item, statuses)
        for item in pages(omics, "ListRunsInBatch", batch_id, "runs", batchId=batch_id, maxItems=PAGE_SIZE)
    ]
    logger.info("Batch %s: %d runs listed, %d with a run status", batch_id, len(rows), listed - len(statuses))
    return rows


def is_failed(row: RunRow) -> bool:
    """Whether the run belongs in the retry file: its submission or the run itself failed."""
    return row.submissionStatus == SUBMISSION_FAILED or row.runStatus == RUN_FAILED


def counts(rows: Iterable[RunRow]) -> dict[str, int]:
    """How many runs are in each state, under ``COUNT_KEYS``."""
    tally: Counter[str] = Counter()
    for row in rows:
        tally["runs"] += 1
        if row.submissionStatus == SUBMISSION_FAILED:
            tally["submissionFailed"] += 1
        if row.runId:
            tally["submitted"] += 1
            tally[RUN_STATUS_COUNTS.get(row.runStatus, "statusUnknown")] += 1
    return {key: tally[key] for key in COUNT_KEYS}


def _row(item: Mapping[str, Any], statuses: dict[str, RunStatus]) -> RunRow:
    run_id = str(item.get("runId") or "")
    run = statuses.pop(run_id, None) if run_id else None
    return RunRow(
        runSettingId=str(item.get("runSettingId") or ""),
        runId=run_id,
        runArn=str(item.get("runArn") or ""),
        runName=run.name if run else "",
        submissionStatus=str(item.get("submissionStatus") or ""),
        submissionFailureReason=str(item.get("submissionFailureReason") or ""),
        submissionFailureMessage=str(item.get("submissionFailureMessage") or ""),
        runStatus=run.status if run else "",
        startTime=run.startTime if run else "",
        stopTime=run.stopTime if run else "",
    )


def _timestamp(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime.datetime) else str(value or "")
