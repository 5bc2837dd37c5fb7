"""What a batch's runs came to: the facts the tracker function and the omics-batch command share.

One module, so the two cannot disagree on which runs failed, which go in a retry file, or
whether a batch ended clean. Policy may differ at the edges (the command refuses a settings
file that lacks a failed run; the tracker reports the gap in its summary), the facts may not.

- **Rows.** Every run of a batch as a ``RunRow``: ListRunsInBatch maps each runSettingId to
  its submission (and run id); ListRuns, filtered by batch id, gives each run's status and
  times; a submitted run ListRuns no longer lists is asked with GetRun (a bounded number of
  them). A run whose status is still not known is *unknown*: never counted as failed, never
  put in a retry file, and it keeps a batch from being clean.
- **Failed.** A run failed when its submission FAILED or the run itself FAILED.
- **Clean.** A batch is clean when it is PROCESSED and no submission failed, no run failed
  and no run's status is unknown. The tracker decides it from its rows, the command (which
  lists nothing for ``status``) from GetBatch's summary, whose counts are final once the batch
  is PROCESSED; both through ``is_clean``.
- **Retry selection.** The original settings entries of the failed runs, in the file's order,
  and the failed runs the file does not hold.
- **S3 URIs.** How an ``s3://`` URI splits, and whether it names a valid bucket: the construct
  refuses at synth what the functions could not use.
- **Settings files.** A JSON array of inline settings (the s3UriSettings format), up to
  100,000 entries and 6 GB: read in chunks and decoded one entry at a time, each checked to be
  an object with a runSettingId of its own.
"""

from __future__ import annotations

import codecs
import datetime
import functools
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import botocore.exceptions

from omics_batch_construct_runtime.errors import NOT_FOUND, ApiError, call

logger = logging.getLogger(__name__)

# The model's BatchId (and RunId) shape: 1 to 18 digits.
BATCH_ID_PATTERN = re.compile(r"[0-9]{1,18}")
# The largest page ListRunsInBatch (maxItems) and ListRuns (maxResults) allow.
PAGE_SIZE = 100
# GetRun calls allowed, per listing, for submitted runs ListRuns no longer lists.
MAX_GET_RUN = 100

SUCCEEDED_STATUS = "PROCESSED"
FAILED = "FAILED"  # both a SubmissionStatus and a RunStatus value
# The submissionFailureReason of a run setting its batch ended without submitting (not the service's).
NOT_SUBMITTED = "NotSubmitted"
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


def is_batch_id(value: str | None) -> bool:
    """Whether ``value`` can be a HealthOmics batch id (and so is worth a call)."""
    return BATCH_ID_PATTERN.fullmatch(value or "") is not None


# --- rows --------------------------------------------------------------------------------


class RunRow(NamedTuple):
    """One run of the batch. Field names are the report's columns; every value is a string,
    empty when not known (no run id for a failed submission, no status for an unknown run)."""

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
    runUuid: str = ""  # ListRunsInBatch's runInternalUuid: unique, where run ids are reused


class Run(NamedTuple):
    """What ListRuns or GetRun says of one run."""

    name: str
    status: str
    startTime: str
    stopTime: str

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Run:
        return cls(
            name=str(item.get("name") or ""),
            status=str(item.get("status") or ""),
            startTime=_timestamp(item.get("startTime")),
            stopTime=_timestamp(item.get("stopTime")),
        )


def pages(client: Any, operation: str, batch_id: str, items_key: str, **params: Any) -> Iterator[Mapping[str, Any]]:
    """The items of every page of a HealthOmics listing, fetched as consumed."""
    token: str | None = None
    while True:
        page = call(client, operation, batch_id, **params, **({"startingToken": token} if token else {}))
        yield from page.get(items_key, [])
        token = page.get("nextToken")
        if not token:
            return


def page(client: Any, operation: str, batch_id: str, token: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of ListRuns (by batch id) or ListRunsInBatch, from ``token``; its items and the next token."""
    items_key, size_key = LISTINGS[operation]
    params = {"batchId": batch_id, size_key: PAGE_SIZE, **({"startingToken": token} if token else {})}
    answer = call(client, operation, batch_id, **params)
    return list(answer.get(items_key, [])), answer.get("nextToken") or None


# Each listing of a batch's runs: its items' key and its page size's parameter.
LISTINGS = {"ListRuns": ("items", "maxResults"), "ListRunsInBatch": ("runs", "maxItems")}


def runs_in_batch(omics: Any, batch_id: str) -> Iterator[Mapping[str, Any]]:
    """ListRunsInBatch's items, every page."""
    return pages(omics, "ListRunsInBatch", batch_id, "runs", batchId=batch_id, maxItems=PAGE_SIZE)


def batch_rows(omics: Any, batch_id: str, *, max_get_run: int = MAX_GET_RUN) -> list[RunRow]:
    """Every run of the batch in ListRunsInBatch's order, with its status (all at once: the command;
    the tracker lists page by page across invocations, with the same rules).

    ListRuns comes first; then each run setting's row takes its run's status. 100,000 runs are
    about 2,000 calls, made one after the other.
    """
    statuses = {
        str(run.get("id", "")): Run.of(run)
        for run in pages(omics, "ListRuns", batch_id, "items", batchId=batch_id, maxResults=PAGE_SIZE)
    }
    rows = [row_of(item, statuses.get(str(item.get("runId") or ""))) for item in runs_in_batch(omics, batch_id)]
    return ask_unlisted(omics, batch_id, distrust_shared_ids(rows), max_get_run)


def distrust_shared_ids(rows: list[RunRow]) -> list[RunRow]:
    """Rows whose run id another row of the batch has too (a run removed and its id reused by a later
    run of the same batch: ListRuns gives no uuid to tell them apart) lose the status ListRuns gave
    them, so that GetRun's uuid decides each, or leaves it unknown."""
    seen: Counter[str] = Counter(row.runId for row in rows if row.runId)
    shared = {run_id for run_id, count in seen.items() if count > 1}
    if not shared:
        return rows
    logger.warning("%d run ids name more than one run of the batch: their uuids decide", len(shared))
    blank = {"runName": "", "runStatus": "", "startTime": "", "stopTime": ""}
    return [row._replace(**blank) if row.runId in shared else row for row in rows]


def ask_unlisted(omics: Any, batch_id: str, rows: list[RunRow], max_get_run: int) -> list[RunRow]:
    """The submitted runs ListRuns did not list, asked with GetRun (at most ``max_get_run``; see
    ``with_answer``)."""
    asked = unlisted(rows, max_get_run)
    for i in asked:
        rows[i] = with_answer(rows[i], get_run(omics, batch_id, rows[i].runId), batch_id)
    logger.info("Batch %s: %d runs, %d asked with GetRun", batch_id, len(rows), len(asked))
    return rows


def unlisted(rows: list[RunRow], max_get_run: int) -> list[int]:
    """Where the submitted runs ListRuns did not list are, the first ``max_get_run`` of them."""
    return [i for i, row in enumerate(rows) if row.runId and not row.runStatus][:max_get_run]


def with_answer(row: RunRow, answer: Mapping[str, Any] | None, batch_id: str) -> RunRow:
    """The row with what GetRun said of its run, if GetRun found it and it is this row's run: the
    same uuid, and this batch (run ids are reused once a run is deleted); another's leaves the row
    unknown."""
    if answer is None:
        return row
    if not is_own_run(answer, row, batch_id):
        logger.warning(
            "Batch %s: run id %s now names another run (uuid %s, batch %s): left unknown",
            batch_id,
            row.runId,
            answer.get("uuid"),
            answer.get("batchId"),
        )
        return row
    run = Run.of(answer)
    return row._replace(runName=run.name, runStatus=run.status, startTime=run.startTime, stopTime=run.stopTime)


def is_own_run(answer: Mapping[str, Any], row: RunRow, batch_id: str) -> bool:
    """Whether GetRun's ``answer`` is the run of ``row`` (uuid and batch id, where each is given)."""
    if row.runUuid and answer.get("uuid") and str(answer["uuid"]) != row.runUuid:
        return False
    return not (answer.get("batchId") and str(answer["batchId"]) != batch_id)


def get_run(omics: Any, batch_id: str, run_id: str) -> Mapping[str, Any] | None:
    """GetRun's answer; None when the run is not found (deleted, or its metadata removed)."""
    try:
        answer: Mapping[str, Any] = call(omics, "GetRun", batch_id, id=run_id)
    except ApiError as err:
        if err.code == NOT_FOUND:
            return None
        raise
    return answer


def row_of(item: Mapping[str, Any], run: Run | None) -> RunRow:
    """A ListRunsInBatch item as a row, with what ListRuns said of its run (if it listed it)."""
    return RunRow(
        runSettingId=str(item.get("runSettingId") or ""),
        runId=str(item.get("runId") or ""),
        runArn=str(item.get("runArn") or ""),
        runName=run.name if run else "",
        submissionStatus=str(item.get("submissionStatus") or ""),
        submissionFailureReason=str(item.get("submissionFailureReason") or ""),
        submissionFailureMessage=str(item.get("submissionFailureMessage") or ""),
        runStatus=run.status if run else "",
        startTime=run.startTime if run else "",
        stopTime=run.stopTime if run else "",
        runUuid=str(item.get("runInternalUuid") or ""),
    )


def infer_removed(rows: list[RunRow], batch: Mapping[str, Any]) -> list[RunRow]:
    """Runs whose metadata HealthOmics removed (REMOVE retention): ListRuns and GetRun no longer know
    them, but the batch's final counts (PROCESSED) still may. When every unknown run is accounted
    for by one status alone (its count in runSummary, less the rows known to have it), they all
    have that status; otherwise they stay unknown: nothing is guessed."""
    unknown = [i for i, row in enumerate(rows) if is_unknown(row) and not row.runStatus]
    if not unknown or batch.get("status") != SUCCEEDED_STATUS:
        return rows
    known: Counter[str] = Counter(row.runStatus for row in rows if row.runStatus)
    summary = batch.get("runSummary") or {}
    missing = {
        status: int(summary.get(f"{status.lower()}RunCount") or 0) - known[status]
        for status in ("COMPLETED", "FAILED", "CANCELLED")
    }
    owners = [status for status, count in missing.items() if count > 0]
    if len(owners) != 1 or missing[owners[0]] != len(unknown):
        logger.info(
            "Batch %s: %d runs of unknown status, not told apart by its counts %s",
            batch.get("id"),
            len(unknown),
            missing,
        )
        return rows
    logger.info(
        "Batch %s: %d runs no longer known are %s, by the batch's final counts",
        batch.get("id"),
        len(unknown),
        owners[0],
    )
    for i in unknown:
        rows[i] = rows[i]._replace(runStatus=owners[0])
    return rows


def _timestamp(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime.datetime) else str(value or "")


# --- the rules ----------------------------------------------------------------------------


def is_failed(row: RunRow) -> bool:
    """Whether the run belongs in a retry file: its submission or the run itself failed."""
    return row.submissionStatus == FAILED or row.runStatus == FAILED


def is_unknown(row: RunRow) -> bool:
    """A submitted run whose status could not be read: it may still be running, or have failed."""
    return bool(row.runId) and RUN_STATUS_COUNTS.get(row.runStatus) is None


def counts(rows: Iterable[RunRow]) -> dict[str, int]:
    """How many runs are in each state, under ``COUNT_KEYS``."""
    totals: Counter[str] = Counter()
    for row in rows:
        tally(totals, row)
    return {key: totals[key] for key in COUNT_KEYS}


def tally(totals: Counter[str], row: RunRow) -> None:
    """Count one run into ``totals`` (as ``counts`` does, for rows that come one at a time)."""
    totals["runs"] += 1
    if row.submissionStatus == FAILED:
        totals["submissionFailed"] += 1
    if row.runId:
        totals["submitted"] += 1
        totals[RUN_STATUS_COUNTS.get(row.runStatus, "statusUnknown")] += 1


def summary_counts(batch: Mapping[str, Any]) -> dict[str, int]:
    """The same counts from GetBatch's summaries (absent counts are 0; final once PROCESSED)."""

    def count(summary: str, key: str) -> int:
        return int((batch.get(summary) or {}).get(key) or 0)

    runs = {name: count("runSummary", f"{name}RunCount") for name in ("completed", "failed", "cancelled", "deleted")}
    not_finished = sum(
        count("runSummary", f"{name}RunCount") for name in ("pending", "starting", "running", "stopping")
    )
    return {
        "runs": int(batch.get("totalRuns") or 0),
        "submitted": count("submissionSummary", "successfulStartSubmissionCount"),
        "submissionFailed": count("submissionSummary", "failedStartSubmissionCount"),
        **runs,
        "notFinished": not_finished,
        "statusUnknown": 0,
    }


def is_clean(status: str | None, run_counts: Mapping[str, int]) -> bool:
    """PROCESSED with no failed submission, no failed run and no run of unknown status."""
    return status == SUCCEEDED_STATUS and not any(
        run_counts.get(key, 0) for key in ("submissionFailed", "failed", "statusUnknown")
    )


# --- resubmission -------------------------------------------------------------------------

# The submission failures the HealthOmics user guide calls transient or capacity-bound, and
# the ones that need the input fixed (never resubmitted).
RESUBMITTABLE_FAILURES = frozenset(
    {
        "ServiceQuotaExceededException",
        "ThrottlingException",
        "RequestTimeoutException",
        "InternalServerException",
        "ConflictException",
    }
)
NEVER_RESUBMITTED = frozenset({"ValidationException", "AccessDeniedException", "ResourceNotFoundException"})
# A batch-level failure the user guide calls transient ("There was a transient error in the service.
# Retry the batch."): the batch is submitted again. Validation failures (duplicate ids, too many
# runs, bad JSON) and a changed settings file are not.
TRANSIENT_BATCH_FAILURE = re.compile(r"\btransient error\b", re.IGNORECASE)


def is_transient_batch_failure(status: str, failure_reason: str) -> bool:
    return status == FAILED and TRANSIENT_BATCH_FAILURE.search(failure_reason or "") is not None


MAX_ATTEMPTS = 10


def failure_name(reason: str) -> str:
    """A submission failure reason without its ``Exception`` suffix (both spellings are matched)."""
    return reason.removesuffix("Exception")


@dataclass(frozen=True)
class Resubmission:
    """Which of a cohort's runs the tracker submits again, and how many submissions a run may have.

    ``max_attempts`` counts the first submission; 1 means none again.
    """

    max_attempts: int
    submission_failures: frozenset[str]
    failed_runs: bool

    def resubmits(self, row: RunRow, attempt: int) -> bool:
        """Whether a run of this ``attempt`` goes into the next one."""
        if attempt >= self.max_attempts:
            return False
        if row.submissionStatus == FAILED:
            names = {failure_name(reason) for reason in self.submission_failures}
            return failure_name(row.submissionFailureReason) in names
        return self.failed_runs and row.runStatus == FAILED

    def resubmits_unsubmitted(self, status: str, failure_reason: str, attempt: int) -> bool:
        """Whether the run settings a batch of this ``attempt`` never submitted go into the next
        attempt: the batch FAILED with a transient failure, and attempts are left."""
        return attempt < self.max_attempts and is_transient_batch_failure(status, failure_reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "maxAttempts": self.max_attempts,
            "submissionFailures": sorted(self.submission_failures),
            "failedRuns": self.failed_runs,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> Resubmission:
        """The policy the construct wrote; none (resubmission off) when absent."""
        if not value:
            return NO_RESUBMISSION
        return cls(
            max_attempts=int(value["maxAttempts"]),
            submission_failures=frozenset(str(reason) for reason in value["submissionFailures"]),
            failed_runs=bool(value["failedRuns"]),
        )


NO_RESUBMISSION = Resubmission(max_attempts=1, submission_failures=frozenset(), failed_runs=False)


# --- retry selection ----------------------------------------------------------------------


@dataclass
class Selection:
    """What one pass over a settings file keeps: the entries asked for, and own output URIs."""

    entries: list[dict[str, Any]] = field(default_factory=list)  # in the file's order
    missing: list[str] = field(default_factory=list)  # asked for, not in the file (sorted)
    output_uris: dict[str, str] = field(default_factory=dict)  # runSettingId -> its own outputUri
    unlisted: list[str] = field(default_factory=list)  # in the file, not among ``listed`` (file order)


def select(
    entries: Iterable[dict[str, Any]], run_setting_ids: Iterable[str], listed: Set[str] | None = None
) -> Selection:
    """The entries of ``run_setting_ids``, in file order, in one pass (entries as ``settings_entries``
    checks them); the output URIs of entries that set their own come along for the report.

    Given the runSettingIds the batches ``listed``, the entries they do not list are selected
    too, and named in ``unlisted``: runs the batch never submitted (see ``unsubmitted_row``).
    """
    wanted = set(run_setting_ids)
    found = Selection()
    for entry in entries:
        run_setting_id = entry["runSettingId"]
        if isinstance(entry.get("outputUri"), str):
            found.output_uris[run_setting_id] = entry["outputUri"]
        if listed is not None and run_setting_id not in listed:
            found.unlisted.append(run_setting_id)
            found.entries.append(entry)
        elif run_setting_id in wanted:
            found.entries.append(entry)
    found.missing = sorted(wanted - {entry["runSettingId"] for entry in found.entries})
    return found


def unsubmitted_row(run_setting_id: str, batch_id: str, status: str, failure_reason: str) -> RunRow:
    """The row of a run setting its batch never listed: the batch ended (FAILED, or CANCELLED while
    submitting) before submitting it. It counts as a failed submission and goes in the retry file."""
    why = f"batch {batch_id} ended {status or 'with no status'} without submitting it"
    return RunRow(
        runSettingId=run_setting_id,
        runId="",
        runArn="",
        runName="",
        submissionStatus=FAILED,
        submissionFailureReason=NOT_SUBMITTED,
        submissionFailureMessage=f"{why}: {failure_reason}" if failure_reason else why,
        runStatus="",
        startTime="",
        stopTime="",
    )


def retry_ids(rows: Iterable[RunRow]) -> frozenset[str]:
    """The runSettingIds a retry file holds: those of the failed runs."""
    return frozenset(row.runSettingId for row in rows if is_failed(row))


_B = TypeVar("_B")  # what a batch is to the caller: the tracker's record, the command's manifest entry


def last_attempts(batches: Iterable[tuple[_B, Iterable[RunRow]]]) -> list[tuple[RunRow, _B]]:
    """Each run setting with its last attempt: the batches in attempt order, each with its rows.

    A later batch's row replaces an earlier one of the same runSettingId and keeps its place,
    so the order is the one in which the settings first appear (the first attempt's listing).
    """
    last: dict[str, tuple[RunRow, _B]] = {}
    for batch, rows in batches:
        for row in rows:
            last[row.runSettingId] = (row, batch)
    return list(last.values())


# --- settings files -----------------------------------------------------------------------

CHUNK_BYTES = 1 << 20
# An entry longer than this is a malformed file, not a run setting: stop reading.
MAX_ENTRY_CHARS = 16 << 20
_NOT_BLANK = re.compile(r"[^ \t\n\r]")
# S3 answers that mean "this file cannot be read", as opposed to "try again later".
_UNREADABLE_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "AccessDenied", "InvalidObjectState", "404", "403"})


class SettingsError(Exception):
    """A settings file that cannot be read or is not the s3UriSettings format; says which and why."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    bucket, _, key = uri[5:].partition("/") if uri.startswith("s3://") else ("", "", "")
    if not bucket or not key:
        raise SettingsError(f"{uri}: not an s3://bucket/key URI")
    return bucket, key


S3_SCHEME = "s3://"
_BUCKET_CHARACTERS = re.compile(r"[a-z0-9.-]")
_IP_ADDRESS = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")


@functools.lru_cache(maxsize=1024)  # a cohort's per-run output URIs name few buckets
def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an S3 bucket's name, or None (S3's naming rules, as CDK's
    ``Bucket.validateBucketName`` applies them: it refuses a dot beside a hyphen too)."""
    if not 3 <= len(name) <= 63:
        return f"{len(name)} character{'' if len(name) == 1 else 's'}, not 3 to 63"
    others = sorted(set(_BUCKET_CHARACTERS.sub("", name)))
    if others:
        return f"it has {', '.join(map(repr, others))} (lowercase letters, digits, dots and hyphens only)"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "it must begin and end with a letter or digit"
    for pair in ("..", ".-", "-."):
        if pair in name:
            return f"it has {pair!r} (no two dots in a row, nor a dot beside a hyphen)"
    if _IP_ADDRESS.fullmatch(name):
        return "it is formatted as an IP address"
    return None


def s3_uri_problem(uri: str) -> str | None:
    """Why ``uri`` is not an ``s3://bucket/prefix`` URI (the prefix may be empty) with a valid bucket
    name, or None; the words follow the URI in a message (``'x' is not ...``)."""
    if not uri.startswith(S3_SCHEME):
        return "is not an s3://bucket/prefix URI"
    bucket = uri[len(S3_SCHEME) :].partition("/")[0]
    if not bucket:
        return "names no bucket (s3://bucket/prefix)"
    problem = bucket_name_problem(bucket)
    return f"names the bucket {bucket!r}, which is not a valid S3 bucket name: {problem}" if problem else None


def settings_entries(entries: Iterable[Any], source: str) -> Iterator[dict[str, Any]]:
    """Each entry, checked to be an object with a runSettingId of its own."""
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        run_setting_id = entry.get("runSettingId") if isinstance(entry, dict) else None
        if not isinstance(run_setting_id, str):
            raise SettingsError(f"{source}: entry {index} has no runSettingId")
        if run_setting_id in seen:
            raise SettingsError(f"{source}: runSettingId {run_setting_id!r} appears more than once")
        seen.add(run_setting_id)
        yield entry


def read_settings(read: Callable[[int], bytes], source: str) -> Iterator[dict[str, Any]]:
    """The checked entries of the settings file that ``read(n)`` returns in pieces."""
    return settings_entries(json_array(read, source), source)


def s3_settings(s3: Any, uri: str, batch_id: str | None) -> Iterator[dict[str, Any]]:
    """The checked entries of the settings file at ``uri``, decoded one at a time as consumed.

    Throttling and a connection lost mid-object raise as transient ApiErrors; an object that
    cannot be read at all (missing, access denied) is a SettingsError.
    """
    bucket, key = split_s3_uri(uri)
    try:
        body = call(s3, "GetObject", batch_id, Bucket=bucket, Key=key)["Body"]
    except ApiError as err:
        if err.code in _UNREADABLE_CODES:
            raise SettingsError(f"{uri}: cannot be read: {err.code}") from err
        raise
    try:
        yield from read_settings(_reader(body, uri, batch_id), uri)
    finally:
        body.close()


def json_array(read: Callable[[int], bytes], source: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Any]:
    """The elements of the UTF-8 JSON array that ``read(n)`` returns in pieces."""
    return _ArrayDecoder(read, source, chunk_bytes).elements()


class _ArrayDecoder:
    """A JSON array decoded element by element over a byte stream (json.raw_decode per element)."""

    def __init__(self, read: Callable[[int], bytes], source: str, chunk_bytes: int) -> None:
        self._read = read
        self._source = source
        self._chunk_bytes = chunk_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._json = json.JSONDecoder()
        self._text = ""
        self._pos = 0
        self._dropped = 0  # characters consumed and dropped from the front of the text
        self._eof = False

    def _error(self, problem: str) -> SettingsError:
        return SettingsError(f"{self._source}: {problem}")

    def elements(self) -> Iterator[Any]:
        if self._next_char() != "[":
            raise self._error("expected a JSON array of run settings")
        self._pos += 1
        if self._next_char() == "]":
            self._pos += 1
        else:
            yield from self._items()
        if self._next_char():
            raise self._error("data after the JSON array")

    def _items(self) -> Iterator[Any]:
        while True:
            yield self._value()
            separator = self._next_char()
            if not separator:
                raise self._error("ends in the middle of the JSON array")
            if separator not in ",]":
                raise self._error(f"not valid JSON at character {self._dropped + self._pos}")
            self._pos += 1
            if separator == "]":
                return

    def _value(self) -> Any:
        """The next element; an incomplete one waits for more text."""
        if not self._next_char():
            raise self._error("ends in the middle of the JSON array")
        while True:
            try:
                value, self._pos = self._json.raw_decode(self._text, self._pos)
                return value
            except json.JSONDecodeError as err:
                if len(self._text) - self._pos > MAX_ENTRY_CHARS or not self._fill():
                    raise self._error(f"not valid JSON: {err.msg}") from err

    def _next_char(self) -> str:
        """The next non-blank character, not consumed; "" at the end."""
        while True:
            found = _NOT_BLANK.search(self._text, self._pos)
            if found:
                self._pos = found.start()
                return found.group()
            self._pos = len(self._text)
            if not self._fill():
                return ""

    def _fill(self) -> bool:
        """Drop the consumed text and append the next chunk; False at the end."""
        if self._eof:
            return False
        chunk = self._read(self._chunk_bytes)
        self._eof = not chunk
        try:
            more = self._utf8.decode(chunk, final=self._eof)
        except UnicodeDecodeError as err:
            raise self._error("not UTF-8") from err
        self._dropped += self._pos
        self._text = self._text[self._pos :] + more
        self._pos = 0
        return bool(more) or not self._eof


def _reader(body: Any, uri: str, batch_id: str | None) -> Callable[[int], bytes]:
    """``body.read``, with a connection lost mid-object reported as transient."""

    def read(size: int) -> bytes:
        try:
            return bytes(body.read(size))
        except (botocore.exceptions.HTTPClientError, botocore.exceptions.IncompleteReadError) as err:
            failure = type(err).__name__
            raise ApiError("GetObject", failure, f"{uri}: {err}", batch_id=batch_id, http_status=503) from err

    return read
