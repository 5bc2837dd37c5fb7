"""The completion event on the default bus, and the same summary to an SNS topic if given.

Both carry the summary the report returns (counts and where the files are), never the
runs themselves, so they stay far below EventBridge's and SNS's 256 KB. A report retried
after throttling publishes again: consumers get the event at least once, as with any
EventBridge event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.clients import Client
from omics_batch_construct_runtime.errors import ApiError, call, shorten

logger = logging.getLogger(__name__)

SUBJECT_LIMIT = 100  # SNS's limit for Subject
# PutEvents answers 200 with per-entry errors; these two are worth a retry.
_TRANSIENT_ENTRY_ERRORS = frozenset({"ThrottlingException", "InternalFailure"})


def put_event(events: Client, batch_id: str, batch_arn: str, detail: Mapping[str, Any]) -> None:
    """PutEvents of the completion event; a refused entry raises like a failed call."""
    entry = {
        "Source": contract.EVENT_SOURCE,
        "DetailType": contract.EVENT_DETAIL_TYPE,
        "Resources": [batch_arn] if batch_arn else [],
        "Detail": json.dumps(detail),
    }
    response = call(events, "PutEvents", batch_id, Entries=[entry])
    if response.get("FailedEntryCount"):
        failed = response["Entries"][0]
        code = str(failed.get("ErrorCode") or "Unknown")
        status = 500 if code in _TRANSIENT_ENTRY_ERRORS else 400
        raise ApiError("PutEvents", code, str(failed.get("ErrorMessage") or ""), batch_id=batch_id, http_status=status)
    logger.info("Batch %s: published %r", batch_id, contract.EVENT_DETAIL_TYPE)


def notify(sns: Client, topic_arn: str, batch_id: str, detail: Mapping[str, Any]) -> None:
    """Publish the summary to ``topic_arn``, with attributes for subscription filters."""
    status, succeeded = str(detail["status"]), bool(detail["succeeded"])
    call(
        sns,
        "Publish",
        batch_id,
        TopicArn=topic_arn,
        Subject=subject(batch_id, status, succeeded),
        Message=json.dumps(detail, indent=2),
        MessageAttributes={
            "batchId": {"DataType": "String", "StringValue": batch_id},
            "status": {"DataType": "String", "StringValue": status or "UNKNOWN"},
            "succeeded": {"DataType": "String", "StringValue": str(succeeded).lower()},
        },
    )
    logger.info("Batch %s: notified %s", batch_id, topic_arn)


def subject(batch_id: str, status: str, succeeded: bool) -> str:
    """A one-line subject: which batch, how it ended."""
    outcome = "succeeded" if succeeded else "needs attention"
    return shorten(f"HealthOmics run batch {batch_id} {status}: {outcome}", SUBJECT_LIMIT)
