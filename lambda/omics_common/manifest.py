"""A cohort's batches, as the tracker records them: read by a destroy and by the command too.

The tracker keeps the cohort's manifest (``cohort.json`` beside its report): every batch it
started, with part and attempt, and the one it is about to start (``starting``: written before
its StartRunBatch, so that a batch started by a check still running when the tracking was
stopped is found by its name). A destroy stops the cohort's running executions, then reads
the manifest to apply ``on_delete`` to every batch, and finishes only once no stopped
execution can still have a check running (``quiet_after``).
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from omics_common import contract
from omics_common.errors import ApiError, call
from omics_common.outcome import split_s3_uri

logger = logging.getLogger(__name__)

# S3 answers that mean "there is no manifest": the tracker started no batch of its own.
_NO_MANIFEST = frozenset({"NoSuchKey", "404"})
# How far Step Functions' clock (stopDate) and this function's may disagree.
CLOCK_SKEW_SECONDS = 60


def manifest_uri(report_uri: str, first_batch_id: str) -> str:
    return contract.cohort_prefix(report_uri, first_batch_id) + contract.COHORT_MANIFEST


def read_manifest(s3: Any, report_uri: str, first_batch_id: str) -> dict[str, Any] | None:
    """The cohort's manifest, or None when the tracker has written none (yet).

    GetObject only: a missing key reads as None to a caller who may list the bucket, and as
    AccessDenied to one who may not (the command, which then shows the batch alone).
    """
    bucket, key = split_s3_uri(manifest_uri(report_uri, first_batch_id))
    try:
        body = call(s3, "GetObject", first_batch_id, Bucket=bucket, Key=key)["Body"]
    except ApiError as err:
        if err.code in _NO_MANIFEST:
            return None
        raise
    manifest: dict[str, Any] = json.loads(body.read())
    return manifest


def find_manifest(s3: Any, report_uri: str, first_batch_id: str) -> dict[str, Any] | None:
    """The manifest, read only once a listing of its exact key shows it there.

    The deploy's handlers may list the bucket for the manifests' keys only (``s3:prefix``), and
    without the listing S3 would answer a missing key with AccessDenied, not NoSuchKey.
    """
    bucket, key = split_s3_uri(manifest_uri(report_uri, first_batch_id))
    listed = call(s3, "ListObjectsV2", first_batch_id, Bucket=bucket, Prefix=key, MaxKeys=1)
    if not any(item.get("Key") == key for item in listed.get("Contents", [])):
        return None
    return read_manifest(s3, report_uri, first_batch_id)


@dataclass(frozen=True)
class Starting:
    """The batch a check was about to start when it last wrote the manifest."""

    batch_name: str
    requested_at: float  # epoch seconds, before the StartRunBatch

    def to_json(self) -> dict[str, Any]:
        return {"batchName": self.batch_name, "requestedAt": self.requested_at}

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> Starting | None:
        if not value:
            return None
        return cls(str(value["batchName"]), float(value["requestedAt"]))


@dataclass(frozen=True)
class CohortBatches:
    """What a destroy acts on: the batch ids known, and whether one may still appear."""

    ids: list[str]
    settled: bool  # False: a batch being started may not be listed yet


def cohort_batches(s3: Any, omics: Any, report_uri: str | None, first_batch_id: str, now: float) -> CohortBatches:
    """The cohort's batches: its first, those its manifest names, and the one being started
    (found by its name with ListBatch) in start order."""
    manifest = find_manifest(s3, report_uri, first_batch_id) if report_uri else None
    ids = [first_batch_id]
    for batch in (manifest or {}).get("batches", []):
        if str(batch["batchId"]) not in ids:
            ids.append(str(batch["batchId"]))
    starting = Starting.of((manifest or {}).get("starting"))
    if starting is None:
        return CohortBatches(ids, settled=True)
    named = [str(item["id"]) for item in batches_named(omics, starting.batch_name, first_batch_id)]
    ids.extend(batch_id for batch_id in named if batch_id not in ids)
    # Unlisted: not started, or started and not listed yet (a check's start is within the function's
    # timeout of its request, and then listed within the grace).
    waited = now - starting.requested_at
    settled = bool(named) or waited > contract.TRACKER_TIMEOUT_SECONDS + contract.NOT_VISIBLE_GRACE_SECONDS
    logger.info("Cohort %s: batch %s being started: %s", first_batch_id, starting.batch_name, named or "not listed")
    return CohortBatches(ids, settled)


def batches_named(omics: Any, name: str, batch_id: str) -> Iterator[Mapping[str, Any]]:
    """ListBatch's items whose name is ``name``, every page."""
    params: dict[str, Any] = {"name": name, "maxItems": 100}
    while True:
        page = call(omics, "ListBatch", batch_id, **params)
        yield from (item for item in page.get("items", []) if item.get("name") == name)
        if not page.get("nextToken"):
            return
        params["startingToken"] = page["nextToken"]


# --- the cohort's tracking executions ------------------------------------------------------------


def executions(sfn: Any, state_machine_arn: str, first_batch_id: str, status: str) -> list[dict[str, Any]]:
    """The cohort's executions (its first and its continuations) of ``status``, all pages."""
    names = re.compile(re.escape(contract.execution_name(first_batch_id)) + r"(-[0-9]+)?")
    params: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": 100, "statusFilter": status}
    found: list[dict[str, Any]] = []
    while True:
        page = call(sfn, "ListExecutions", first_batch_id, **params)
        found.extend(e for e in page.get("executions", []) if names.fullmatch(e.get("name", "")))
        if not page.get("nextToken"):
            return found
        params["nextToken"] = page["nextToken"]


def running_executions(sfn: Any, state_machine_arn: str, first_batch_id: str) -> list[str]:
    """The ARNs of the cohort's running executions."""
    return [e["executionArn"] for e in executions(sfn, state_machine_arn, first_batch_id, "RUNNING")]


@dataclass(frozen=True)
class Stop:
    """What stopping the cohort's tracking found: what it stopped now, and until when a task of a
    stopped execution may still run (Step Functions does not stop a Lambda invocation under way)."""

    stopped: list[str]
    quiet_after: float  # epoch seconds; 0 when no execution of the cohort was ever stopped

    def quiet(self, now: float) -> bool:
        return not self.stopped and now >= self.quiet_after


def stop_tracking(sfn: Any, state_machine_arn: str, first_batch_id: str, cause: str) -> Stop:
    """Stop the cohort's running executions; say what was stopped and when the last stopped one's
    tasks are over (the tracker function's timeout after its stop, and the grace in which a batch
    such a task started becomes readable). Two listings, by status: the state machine keeps
    closed executions of earlier cohorts too."""
    stopped: list[str] = []
    stop_dates = [
        e["stopDate"].timestamp()
        for e in executions(sfn, state_machine_arn, first_batch_id, "ABORTED")
        if isinstance(e.get("stopDate"), datetime.datetime)
    ]
    for arn in running_executions(sfn, state_machine_arn, first_batch_id):
        try:
            call(sfn, "StopExecution", first_batch_id, executionArn=arn, cause=cause)
        except ApiError as err:
            if err.code != "ExecutionDoesNotExist":
                raise
            continue
        stopped.append(arn)  # not quiet now; the next look finds it ABORTED, with its stopDate
        logger.info("Cohort %s: stopped %s", first_batch_id, arn)
    last = max(stop_dates, default=None)
    # A batch a check started just before its timeout is readable within the grace after.
    wait = contract.TRACKER_TIMEOUT_SECONDS + contract.NOT_VISIBLE_GRACE_SECONDS + CLOCK_SKEW_SECONDS
    quiet_after = 0.0 if last is None else last + wait
    return Stop(stopped, quiet_after)
