"""A cohort's batches, as the tracker records them: read by a destroy and by the command too.

The tracker keeps the cohort's manifest (``cohort.json`` beside its report): every batch it
started, with part and attempt. A destroy stops the cohort's running executions first (so no
batch starts after it looked), then reads the manifest to apply ``on_delete`` to every batch.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from omics_common import contract
from omics_common.errors import ApiError, call
from omics_common.outcome import split_s3_uri

logger = logging.getLogger(__name__)

# S3 answers that mean "there is no manifest": the tracker started no batch of its own.
_NO_MANIFEST = frozenset({"NoSuchKey", "404"})


def manifest_uri(report_uri: str, first_batch_id: str) -> str:
    return contract.cohort_prefix(report_uri, first_batch_id) + contract.COHORT_MANIFEST


def read_manifest(s3: Any, report_uri: str, first_batch_id: str) -> dict[str, Any] | None:
    """The cohort's manifest, or None when the tracker has written none (yet)."""
    bucket, key = split_s3_uri(manifest_uri(report_uri, first_batch_id))
    try:
        body = call(s3, "GetObject", first_batch_id, Bucket=bucket, Key=key)["Body"]
    except ApiError as err:
        if err.code in _NO_MANIFEST:
            return None
        raise
    manifest: dict[str, Any] = json.loads(body.read())
    return manifest


def batch_ids(s3: Any, report_uri: str | None, first_batch_id: str) -> list[str]:
    """The cohort's batches: its first, and those its manifest names, in start order."""
    manifest = read_manifest(s3, report_uri, first_batch_id) if report_uri else None
    ids = [first_batch_id]
    for batch in (manifest or {}).get("batches", []):
        if str(batch["batchId"]) not in ids:
            ids.append(str(batch["batchId"]))
    return ids


def running_executions(sfn: Any, state_machine_arn: str, first_batch_id: str) -> list[str]:
    """The ARNs of the cohort's running executions (its first, or a continuation), all pages."""
    names = re.compile(re.escape(contract.execution_name(first_batch_id)) + r"(-[0-9]+)?")
    params: dict[str, Any] = {"stateMachineArn": state_machine_arn, "statusFilter": "RUNNING", "maxResults": 100}
    found: list[str] = []
    while True:
        page = call(sfn, "ListExecutions", first_batch_id, **params)
        found.extend(e["executionArn"] for e in page.get("executions", []) if names.fullmatch(e.get("name", "")))
        if not page.get("nextToken"):
            return found
        params["nextToken"] = page["nextToken"]


def stop_tracking(sfn: Any, state_machine_arn: str, first_batch_id: str, cause: str) -> list[str]:
    """Stop the cohort's running executions; the ones stopped."""
    stopped = running_executions(sfn, state_machine_arn, first_batch_id)
    for arn in stopped:
        try:
            call(sfn, "StopExecution", first_batch_id, executionArn=arn, cause=cause)
        except ApiError as err:
            if err.code != "ExecutionDoesNotExist":
                raise
        logger.info("Cohort %s: stopped %s", first_batch_id, arn)
    return stopped
