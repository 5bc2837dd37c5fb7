"""How the ``omics-batch`` CLI shows a batch and its runs.

Plain text goes to pipes and files (no colour, no cursor movement, one line per change,
so a CI log stays readable); a terminal gets rich's live progress bars. rich is imported
only for the terminal view, so listing runs or writing a retry file never loads it.
Text that comes from the service (names, failure reasons) is stripped of control
characters before it is printed, so it cannot move the cursor or recolour a terminal.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import IO, Any, Protocol

from omics_batch_construct_runtime import reportpage

Batch = Mapping[str, Any]


def count(batch: Batch, summary: str, key: str) -> int:
    """One of the batch's summary counts; absent (not reported yet) counts as 0."""
    return int((batch.get(summary) or {}).get(key) or 0)


# (label, key) pairs in the order an operator reads them: the life of a run.
SUBMISSION_COUNTS = (
    ("succeeded", "successfulStartSubmissionCount"),
    ("failed", "failedStartSubmissionCount"),
    ("pending", "pendingStartSubmissionCount"),
)
# Cancel and delete submissions exist only after a cancel or delete: shown when non-zero.
LATER_SUBMISSION_COUNTS = (
    ("cancel succeeded", "successfulCancelSubmissionCount"),
    ("cancel failed", "failedCancelSubmissionCount"),
    ("delete succeeded", "successfulDeleteSubmissionCount"),
    ("delete failed", "failedDeleteSubmissionCount"),
)
RUN_COUNTS = (
    ("pending", "pendingRunCount"),
    ("starting", "startingRunCount"),
    ("running", "runningRunCount"),
    ("stopping", "stoppingRunCount"),
    ("completed", "completedRunCount"),
    ("failed", "failedRunCount"),
    ("cancelled", "cancelledRunCount"),
    ("deleted", "deletedRunCount"),
)
FINISHED_RUN_KEYS = ("completedRunCount", "failedRunCount", "cancelledRunCount", "deletedRunCount")

# ListRunsInBatch members, in the columns of the CSV output (the API's own names).
RUN_COLUMNS = ("runSettingId", "runId", "submissionStatus", "submissionFailureReason", "submissionFailureMessage")
# A cohort's runs say which batch they were in (the report's own column names).
COHORT_COLUMNS = ("attempt", "batchId")


def printable(text: object) -> str:
    """The text with control characters (escape, carriage return, ...) replaced by '?'."""
    return "".join("?" if unicodedata.category(c) == "Cc" else c for c in str(text))


def timestamp() -> str:
    """Local wall-clock time for progress lines: watches last hours, logs need a time."""
    return datetime.now().strftime("%H:%M:%S")


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands, in the two numbers an operator watches fill up."""

    status: str
    total: int | None  # totalRuns is unknown until the settings are validated
    submitted: int  # start submissions made, successful or not
    submission_failed: int
    finished: int  # runs that will not change any more, refused submissions included
    failed: int  # refused submissions plus failed runs

    @classmethod
    def of(cls, batch: Batch) -> BatchProgress:
        submission_failed = count(batch, "submissionSummary", "failedStartSubmissionCount")
        run_failed = count(batch, "runSummary", "failedRunCount")
        total = batch.get("totalRuns")
        return cls(
            status=printable(batch.get("status", "?")),
            total=int(total) if total is not None else None,
            submitted=count(batch, "submissionSummary", "successfulStartSubmissionCount") + submission_failed,
            submission_failed=submission_failed,
            finished=sum(count(batch, "runSummary", key) for key in FINISHED_RUN_KEYS) + submission_failed,
            failed=submission_failed + run_failed,
        )

    def line(self) -> str:
        """One plain progress line: status, submitted and finished out of the total."""
        total = "?" if self.total is None else str(self.total)
        return (
            f"{self.status}: submitted {self.submitted}/{total} ({self.submission_failed} failed), "
            f"finished {self.finished}/{total} ({self.failed} failed)"
        )


def _counts(batch: Batch, summary: str, pairs: Sequence[tuple[str, str]], *, nonzero_only: bool = False) -> list[str]:
    values = ((label, count(batch, summary, key)) for label, key in pairs)
    return [f"{label} {value}" for label, value in values if value or not nonzero_only]


def summary_lines(batch: Batch) -> list[str]:
    """The batch's status, submission counts, run counts and failure reason."""
    name = f" ({printable(batch['name'])})" if batch.get("name") else ""
    total = batch.get("totalRuns")
    submissions = _counts(batch, "submissionSummary", SUBMISSION_COUNTS) + _counts(
        batch, "submissionSummary", LATER_SUBMISSION_COUNTS, nonzero_only=True
    )
    lines = [
        f"Batch {printable(batch.get('id', '?'))}{name}: {printable(batch.get('status', '?'))}",
        f"  total runs:  {'not known yet' if total is None else total}",
        f"  submissions: {', '.join(submissions)}",
        f"  runs:        {', '.join(_counts(batch, 'runSummary', RUN_COUNTS))}",
    ]
    if batch.get("failureReason"):
        lines.append(f"  failure:     {printable(batch['failureReason'])}")
    return lines


def cohort_lines(
    first_batch_id: str,
    batches: Sequence[tuple[int, int, Batch]],
    *,
    done: bool,
    result: Mapping[str, Any] | None,
) -> list[str]:
    """The cohort's batches (part, attempt, status) and, once the tracker reported, its result."""
    state = "tracking" if not done else f"done, {printable((result or {}).get('status', '?'))}"
    if done and result is not None:
        state += ", succeeded" if result.get("succeeded") else ", not clean"
    lines = [f"Cohort of batch {printable(first_batch_id)}: {len(batches)} batch(es), {state}"]
    for part, attempt, batch in batches:
        batch_id, status = printable(batch.get("id", "?")), printable(batch.get("status", "?"))
        lines.append(f"  batch {batch_id}  part {part}  attempt {attempt}  {status}")
    if done and result is not None:
        counts = result.get("counts") or {}
        shown = ("runs", "completed", "failed", "submissionFailed", "statusUnknown", "retry")
        lines.append("  counts:      " + ", ".join(f"{key} {counts.get(key, 0)}" for key in shown))
        lines.append(f"  report:      {printable(result.get('reportJsonUri', ''))}")
        if result.get("retrySettingsUri"):
            lines.append(f"  retry file:  {printable(result['retrySettingsUri'])}")
    return lines


# Failure groups the report command prints (report.html shows more, report.csv every run).
REPORT_GROUPS = 10


def report_lines(summary: reportpage.Summary, detail: Mapping[str, Any]) -> list[str]:
    """A reported cohort: its status, counts, cost (total, compute, storage, per run), durations and
    largest failure groups, from the summary of its report.json."""
    name = f" ({printable(detail['batchName'])})" if detail.get("batchName") else ""
    succeeded = detail.get("succeeded")
    verdict = "" if succeeded is None else ", succeeded" if succeeded else ", not clean"
    counts = summary.counts
    shown = [f"{label.lower()} {counts[key]:,}" for key, label, _ in reportpage.STATUS_ROWS if counts[key]]
    cost = summary.digest.cost()
    lines = [
        f"Cohort of batch {printable(detail.get('batchId', '?'))}{name}: {printable(detail.get('status') or '?')}"
        + verdict,
        f"  runs:        {counts['runs']:,}" + (f": {', '.join(shown)}" if shown else ""),
    ]
    if cost["runsPriced"]:
        usd = reportpage.usd
        lines.append(
            f"  cost:        {usd(cost['totalUsd'], total=True)} estimated (compute "
            f"{usd(cost['computeUsd'], total=True)}, storage {usd(cost['storageUsd'], total=True)}); "
            f"{cost['runsPriced']:,} runs priced, {cost['runsWithoutCost']:,} without a cost"
        )
        lines.append("  cost a run:  " + _spread(summary.cost, usd))
    else:
        lines.append(f"  cost:        none recorded ({cost['runsWithoutCost']:,} ended runs without a cost)")
    if summary.duration.count:
        lines.append("  duration:    " + _spread(summary.duration, reportpage.duration))
    groups = summary.digest.failure_groups(REPORT_GROUPS)
    failed = sum(summary.digest.failures.values())
    if not groups:
        lines.append("  failures:    none")
        return lines
    lines.append(f"  failures:    {failed:,} run(s) in {len(summary.digest.failures):,} group(s), the largest:")
    width = max(len(f"{group['runs']:,}") for group in groups)
    for group in groups:
        task = f" in {printable(group['task'])}" if group["task"] else ""
        examples = ", ".join(printable(example) for example in group["examples"])
        lines.append(f"    {group['runs']:>{width},}  {printable(group['reason'])}{task}  (e.g. {examples})")
    if len(summary.digest.failures) > len(groups):
        lines.append(f"    ... {len(summary.digest.failures) - len(groups):,} more group(s): see report.html")
    return lines


def _spread(histogram: reportpage.Histogram, show: Callable[[float | None], str]) -> str:
    """p50, p90, p99 (at the histogram's bucket resolution) and the exact maximum."""
    cells = [f"p{round(q * 100)} {show(histogram.percentile(q))}" for q in reportpage.PERCENTILES]
    return ", ".join([*cells, f"max {show(histogram.most)}"])


class WatchView(Protocol):
    """Shows each polled state of a batch while ``--watch`` follows it."""

    def __enter__(self) -> WatchView: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...

    def update(self, batch: Batch) -> None: ...


class PlainView:
    """One timestamped line whenever the progress changes; text only, for pipes and logs."""

    def __init__(self, stream: IO[str], clock: Callable[[], str] = timestamp) -> None:
        self._stream = stream
        self._clock = clock
        self._last = ""

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, batch: Batch) -> None:
        line = BatchProgress.of(batch).line()
        if line != self._last:
            print(f"{self._clock()} {line}", file=self._stream, flush=True)
            self._last = line


class LiveView:
    """rich progress bars (submitted, finished) redrawn in place, for a terminal.

    Status changes are printed above the bars as lines, so the history of the batch stays
    on screen after the bars are gone.
    """

    def __init__(self, stream: IO[str], clock: Callable[[], str] = timestamp) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=stream, force_terminal=True, highlight=False)
        self._progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=4,
        )
        self._clock = clock
        self._status: str | None = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> LiveView:
        self._progress.start()
        for name in ("submitted", "finished"):
            self._tasks[name] = self._progress.add_task(name, total=None, note="")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def update(self, batch: Batch) -> None:
        progress = BatchProgress.of(batch)
        if progress.status != self._status:
            self._progress.console.print(f"{self._clock()} {progress.status}", markup=False)
            self._status = progress.status
        self._progress.update(
            self._tasks["submitted"],
            total=progress.total,
            completed=progress.submitted,
            note=f"{progress.submission_failed} failed",
        )
        self._progress.update(
            self._tasks["finished"], total=progress.total, completed=progress.finished, note=f"{progress.failed} failed"
        )


def open_view(stream: IO[str]) -> WatchView:
    """Live bars on a terminal, plain lines anywhere else (pipe, file, CI log), and on a terminal
    too when rich is not installed (it comes with the [cli] extra)."""
    is_tty = getattr(stream, "isatty", None)
    return LiveView(stream) if is_tty and is_tty() and has_rich() else PlainView(stream)


def has_rich() -> bool:
    """Whether rich, the live view's library, is installed (pip install "omics-batch-construct[cli]")."""
    return importlib.util.find_spec("rich") is not None


# --- runs ------------------------------------------------------------------------------


def _failure(run: Mapping[str, Any]) -> str:
    parts = [run.get("submissionFailureReason"), run.get("submissionFailureMessage")]
    return ": ".join(printable(p) for p in parts if p)


def write_runs_table(runs: Iterable[Mapping[str, Any]], stream: IO[str], *, cohort: bool = False) -> None:
    """Aligned columns for reading: sample (runSettingId), run id, submission (and, for a
    cohort, the attempt and the batch), failure."""
    header = ("RUN SETTING ID", "RUN ID", "SUBMISSION", *(("ATTEMPT", "BATCH") if cohort else ()), "FAILURE")
    rows = [header]
    rows += [
        (
            printable(run.get("runSettingId", "")),
            printable(run.get("runId", "-")),
            printable(run.get("submissionStatus", "-")),
            *((str(run.get("attempt", "")), str(run.get("batchId", ""))) if cohort else ()),
            _failure(run),
        )
        for run in runs
    ]
    aligned = len(header) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(aligned)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[aligned]]).rstrip(), file=stream)


def write_runs_csv(runs: Iterable[Mapping[str, Any]], stream: IO[str], *, cohort: bool = False) -> None:
    """CSV with the API's member names as the header, for spreadsheets and joins."""
    columns = (*RUN_COLUMNS, *(COHORT_COLUMNS if cohort else ()))
    writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(runs)


def write_runs_json(runs: Iterable[Mapping[str, Any]], stream: IO[str], *, cohort: bool = False) -> None:
    """The ListRunsInBatch items as returned (runArn and the run's uuid included; for a
    cohort, each with its attempt and batchId)."""
    json.dump(list(runs), stream, indent=2, ensure_ascii=False)
    stream.write("\n")


class RunWriter(Protocol):
    def __call__(self, runs: Iterable[Mapping[str, Any]], stream: IO[str], *, cohort: bool = False) -> None: ...


RUN_WRITERS: dict[str, RunWriter] = {
    "table": write_runs_table,
    "csv": write_runs_csv,
    "json": write_runs_json,
}
