"""The cohort's CloudWatch metrics, written as embedded metric format (EMF) log lines.

The tracker function (at each check and at the report, and when the tracking says it is delayed)
and the insight function (as runs end) print one JSON line to standard output; CloudWatch Logs
extracts the metrics from the function's log group. No PutMetricData call, and no permission
beyond the logs the functions write already. The construct's dashboard and alarms
(``omics_batch_construct._monitoring``) read the names defined here.

Every metric has one dimension, ``Cohort``: the cohort's first batch id. CloudWatch bills a custom
metric (a name with one set of dimension values) for the hours it receives data, 0.30 USD a month
at most at list price: a run, a batch or a status is never a dimension, so a cohort has at most
``len(UNITS)`` metrics whatever its size.

- The counts (``RUNS_COMPLETED`` ... ``SUBMISSIONS_FAILED``) are gauges: the cohort's totals over
  every batch it has, each attempt of a run counted, as GetBatch's summaries give them when the
  tracker looked. A line repeats the totals (a retried check changes nothing): read their Maximum.
- ``COST_USD`` is the report's total, once, when the cohort ends.
- ``RUN_COST_USD`` is one value per run, as the insight function records it: its Sum is what the
  runs recorded in a period cost, its SampleCount how many were priced.
- ``TRACKING_DELAYS`` is 1 for each "Tracking Delayed" event of the cohort: read its Sum.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .outcome import summary_counts

logger = logging.getLogger(__name__)

NAMESPACE = "OmicsRunBatch"
COHORT = "Cohort"  # the one dimension: the cohort's first batch id

RUNS_COMPLETED = "RunsCompleted"
RUNS_FAILED = "RunsFailed"
RUNS_NOT_FINISHED = "RunsNotFinished"  # pending, starting, running or stopping
SUBMISSIONS_FAILED = "SubmissionsFailed"
COST_USD = "CostUsd"
RUN_COST_USD = "RunCostUsd"
TRACKING_DELAYS = "TrackingDelays"

# Each metric's CloudWatch unit (there is none for a currency).
UNITS: Mapping[str, str] = {
    RUNS_COMPLETED: "Count",
    RUNS_FAILED: "Count",
    RUNS_NOT_FINISHED: "Count",
    SUBMISSIONS_FAILED: "Count",
    COST_USD: "None",
    RUN_COST_USD: "None",
    TRACKING_DELAYS: "Count",
}
# The count metrics, by the key of ``outcome.summary_counts`` each one sums.
COUNTS: Mapping[str, str] = {
    RUNS_COMPLETED: "completed",
    RUNS_FAILED: "failed",
    RUNS_NOT_FINISHED: "notFinished",
    SUBMISSIONS_FAILED: "submissionFailed",
}
# The most values one metric of one EMF line may carry (the specification's limit).
MAX_VALUES = 100

Value = int | float | Decimal | Sequence[int | float | Decimal]


def batch_counts(batch: Mapping[str, Any]) -> dict[str, int]:
    """What a batch adds to the count metrics, from its GetBatch answer, by summary key."""
    summary = summary_counts(batch)
    return {key: summary[key] for key in COUNTS.values()}


def cohort_counts(batches: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The count metrics of a cohort: its batches' ``batch_counts`` summed (every attempt of a run)."""
    totals = dict.fromkeys(COUNTS, 0)
    for counts in batches:
        for name, key in COUNTS.items():
            totals[name] += int(counts.get(key) or 0)
    return totals


def documents(cohort: str, values: Mapping[str, Value], timestamp_ms: int) -> list[dict[str, Any]]:
    """The EMF documents that carry ``values`` (metric names of ``UNITS``) of ``cohort``.

    One document, unless a metric has more than ``MAX_VALUES`` values: then one per hundred. A value
    that is not a finite number is left out (JSON has no NaN); a metric left without values too.
    """
    unknown = sorted(set(values) - set(UNITS))
    if unknown:
        raise ValueError(f"not metrics of {NAMESPACE}: {', '.join(unknown)}")
    kept = {name: numbers for name, numbers in ((n, _numbers(v)) for n, v in values.items()) if numbers}
    found = []
    for chunk in range(max((math.ceil(len(numbers) / MAX_VALUES) for numbers in kept.values()), default=0)):
        members: dict[str, float | list[float]] = {}
        for name, numbers in kept.items():
            part = numbers[chunk * MAX_VALUES : (chunk + 1) * MAX_VALUES]
            if part:
                scalar = not isinstance(values[name], Sequence)
                members[name] = part[0] if scalar else part
        found.append(
            {
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": NAMESPACE,
                            "Dimensions": [[COHORT]],
                            "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in members],
                        }
                    ],
                },
                COHORT: cohort,
                **members,
            }
        )
    return found


def _numbers(value: Value) -> list[float]:
    items: Iterable[Any] = value if isinstance(value, Sequence) else [value]
    numbers = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float | Decimal):
            raise ValueError(f"a metric value must be a number, not {item!r}")
        number = float(item)
        if math.isfinite(number):
            numbers.append(number)
    return numbers


def lines(cohort: str, values: Mapping[str, Value], timestamp_ms: int) -> Iterator[str]:
    """``documents`` as the JSON lines a function prints."""
    for document in documents(cohort, values, timestamp_ms):
        yield json.dumps(document, separators=(",", ":"))


def publish(cohort: str, values: Mapping[str, Value], *, clock: Callable[[], float] = time.time) -> None:
    """Print the cohort's metrics on standard output, where Lambda's log agent takes each line as it
    is (whatever the function's log format; the logging module's JSON would wrap it). Best effort: a
    metric that cannot be written is logged, never a failed check or report."""
    try:
        for line in lines(cohort, values, int(clock() * 1000)):
            print(line, flush=True)
    except (OSError, ValueError) as err:
        logger.warning("Cohort %s: metrics not written: %s", cohort, err)
