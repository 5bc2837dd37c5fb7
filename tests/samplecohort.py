"""The report rows of a made-up cohort, as the tracker writes them (``tracker.report.COLUMNS``):
for report.html's tests, its screenshot (``scripts/report_screenshot.py``) and its benchmark.

Runs start over a day and a half, as a batch's concurrency lets them, last about three hours
(log-normal), and cost a few dollars of compute plus their STATIC storage's hours. About 1 % fail
for one of three reasons, and a few submissions are refused. The same ``seed`` makes the same rows.
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Iterator

from tracker.report import COLUMNS

START = datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)
STORAGE_USD_PER_HOUR = 1200 * 0.0001918  # STATIC, 1,200 GiB, us-east-1
FAILURES = (  # reason, failed task, weight
    ("OUT_OF_MEMORY_ERROR", "call_variants", 6),
    ("RUN_TASK_FAILED", "align_reads", 3),
    ("FILE_SYSTEM_OUT_OF_SPACE", "", 1),
)
SUBMISSION_FAILURE = ("ServiceQuotaExceededException", "Run quota reached")


def rows(
    count: int, *, seed: int = 7, failed_share: float = 0.01, refused_share: float = 0.002
) -> Iterator[dict[str, str]]:
    """``count`` report rows, the runSettingIds ``NA000000``, ``NA000001``, ..."""
    rng = random.Random(seed)
    spread = 36 * 3600  # seconds over which the runs start
    reasons = [(reason, task) for reason, task, weight in FAILURES for _ in range(weight)]
    for i in range(count):
        setting = f"NA{i:06d}"
        row = dict.fromkeys(COLUMNS, "")
        row.update(runSettingId=setting, attempt="1", batchId="4455667")
        if rng.random() < refused_share:
            row.update(
                submissionStatus="FAILED",
                submissionFailureReason=SUBMISSION_FAILURE[0],
                submissionFailureMessage=SUBMISSION_FAILURE[1],
            )
            yield row
            continue
        run_id = str(1_000_000 + i)
        start = START + datetime.timedelta(seconds=spread * i / max(count, 1) + rng.uniform(0, 300))
        hours = rng.lognormvariate(math.log(3.0), 0.35)
        status, reason, task = "COMPLETED", "", ""
        if rng.random() < failed_share:
            status = "FAILED"
            reason, task = rng.choice(reasons)
            hours *= rng.uniform(0.1, 0.9)  # failed on the way
        stop = start + datetime.timedelta(hours=hours)
        compute = hours * rng.lognormvariate(math.log(1.4), 0.3)
        storage = hours * STORAGE_USD_PER_HOUR
        row.update(
            runId=run_id,
            runArn=f"arn:aws:omics:us-east-1:111122223333:run/{run_id}",
            runName=f"run-{setting}",
            submissionStatus="SUCCESS",
            runStatus=status,
            startTime=start.isoformat(),
            stopTime=stop.isoformat(),
            runUuid=f"00000000-0000-4000-8000-{i:012d}",
            outputLocation=f"s3://cohort-7-output/runs/{run_id}/",
            costUsd=f"{compute + storage:.4f}",
            computeCostUsd=f"{compute:.4f}",
            storageCostUsd=f"{storage:.4f}",
            failureReason=reason,
            failedTask=task,
        )
        yield row


def detail(count: int) -> dict[str, object]:
    """What the completion event says of that cohort, as far as the page shows it."""
    prefix = "s3://cohort-7-output/runs/batch-reports/batch-4455667/"
    return {
        "batchId": "4455667",
        "batchName": "cohort-7",
        "status": "PROCESSED",
        "succeeded": False,
        "batchIds": ["4455667"],
        "attempts": 1,
        "counts": {"totalRuns": count},
        "reportJsonUri": prefix + "report.json",
        "reportCsvUri": prefix + "report.csv",
        "retrySettingsUri": prefix + "retry-settings.json",
    }
