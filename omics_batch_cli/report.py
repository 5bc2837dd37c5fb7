"""What ``omics-batch report`` reads of a reported cohort: its report.json, streamed into the
summary the tracker makes of the same rows (``omics_batch_construct_runtime.reportpage``), and its report.html.

A cohort reported by a release before report.html has no page: the command makes it from
report.json with the tracker's own renderer, so the two cannot differ but for what GetBatch and
the manifest say of the cohort (the event's detail is not kept).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from omics_batch_construct_runtime import outcome, reportpage
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.s3files import json_array_lines

from .cohort import Cohort

NOT_THERE = ("NoSuchKey", "404", "NotFound")


def summary(s3: Any, files: CohortLayout, say: Callable[[str], None]) -> reportpage.Summary:
    """report.json's rows, read a line at a time into a summary (a million rows are never held)."""
    bucket, key = outcome.split_s3_uri(files.report_json)
    answer = s3.get_object(Bucket=bucket, Key=key)
    size = int(answer.get("ContentLength") or 0)
    if size > 50 << 20:
        say(f"note: reading {files.report_json} ({size / (1 << 20):,.0f} MiB)")
    body = answer["Body"]
    try:
        return reportpage.Summary().add_all(json_array_lines(body.iter_lines()))
    finally:
        body.close()


def page(s3: Any, files: CohortLayout) -> bytes | None:
    """The report.html the tracker wrote; None when there is none (an earlier release's report)."""
    bucket, key = outcome.split_s3_uri(files.report_html)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in NOT_THERE:
            return None
        raise
    try:
        data: bytes = body.read()
    finally:
        body.close()
    return data


def detail(first: Mapping[str, Any], found: Cohort, files: CohortLayout) -> dict[str, Any]:
    """What the page's heading shows, as far as the first batch and the manifest say it (the keys
    of the completion event's detail)."""
    result = found.result or {}
    return {
        "batchId": found.first_batch_id,
        "batchName": str(first.get("name") or ""),
        "status": result.get("status"),
        "succeeded": result.get("succeeded"),
        "batchIds": [member.batch_id for member in found.members],
        "attempts": max(member.attempt for member in found.members),
        "counts": result.get("counts") or {},
        "reportJsonUri": files.report_json,
        "reportCsvUri": files.report_csv,
        "retrySettingsUri": result.get("retrySettingsUri"),
    }
