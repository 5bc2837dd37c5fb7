"""``check``: the batch's status, in the shape Step Functions' own GetBatch integration has.

The state machine's Choice reads ``$.Status`` whether this function or the
``aws-sdk:omics:getBatch`` integration answered, so the keys are PascalCase like that
integration's, the summaries' members included (``RunSummary.CompletedRunCount``).
A status this release does not know passes through unchanged: the state machine treats
anything outside ``contract.TERMINAL_STATUSES`` as "not finished yet".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypedDict

from omics_common.errors import NOT_FOUND, ApiError, call

from .clients import Client
from .errors import BatchNotFound

logger = logging.getLogger(__name__)


class CheckResult(TypedDict):
    """What ``check`` returns to the state machine."""

    Status: str
    BatchArn: str
    FailureReason: str
    RunSummary: dict[str, Any]
    SubmissionSummary: dict[str, Any]


def get_batch(omics: Client, batch_id: str) -> Mapping[str, Any]:
    """GetBatch, with a vanished batch reported as ``BatchNotFound``."""
    try:
        batch: Mapping[str, Any] = call(omics, "GetBatch", batch_id, batchId=batch_id)
    except ApiError as err:
        if err.code == NOT_FOUND:
            raise BatchNotFound(f"Batch {batch_id} not found: deleted before it finished?") from err
        raise
    return batch


def check(omics: Client, batch_id: str) -> CheckResult:
    """The batch's status, ARN, failure reason and counts."""
    batch = get_batch(omics, batch_id)
    status = str(batch.get("status", ""))
    logger.info("Batch %s is %s", batch_id, status)
    return {
        "Status": status,
        "BatchArn": str(batch.get("arn", "")),
        "FailureReason": str(batch.get("failureReason") or ""),
        "RunSummary": pascal_case_keys(batch.get("runSummary") or {}),
        "SubmissionSummary": pascal_case_keys(batch.get("submissionSummary") or {}),
    }


def pascal_case_keys(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``{"completedRunCount": 3}`` as Step Functions' SDK integrations name it."""
    return {key[:1].upper() + key[1:]: value for key, value in summary.items()}
