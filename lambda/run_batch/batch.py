"""What each CloudFormation request does to a run batch, as functions of a client.

Nothing here sleeps: every wait is a "not yet" returned to the Provider framework,
which calls ``is_complete`` again after its query interval. Every step re-reads the
batch first, so a step repeated after a timeout or a re-delivered event is harmless.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import botocore.exceptions
from omics_common import contract
from omics_common.errors import CONFLICT, NOT_FOUND, ApiError, BatchError, OmicsClient, call, shorten

from .properties import BatchProperties

logger = logging.getLogger(__name__)

# HealthOmics batch ids are numeric; anything else (the Provider framework's
# create-failed marker, a request id) never named a batch.
_BATCH_ID = re.compile(r"[0-9]{1,18}")

# The life cycle, in the groups the handler acts on. A status in none of them is one
# the service added after this release: treated as "not finished yet", never a crash.
CANCELLABLE_STATUSES = frozenset({"PENDING", "SUBMITTING", "INPROGRESS"})
TRANSITION_STATUSES = frozenset({"STOPPING", "RUNS_DELETING"})
TERMINAL_STATUSES = contract.TERMINAL_STATUSES
KNOWN_STATUSES = contract.VALIDATING_STATUSES | CANCELLABLE_STATUSES | TRANSITION_STATUSES | TERMINAL_STATUSES
# Past validation: the deploy may finish. FAILED is the one status that fails it.
STARTED_STATUSES = KNOWN_STATUSES - contract.VALIDATING_STATUSES - {"FAILED"}

FAILURE_REASON_LIMIT = 150
NOT_FOUND_STATUS = contract.STATUS_NOT_FOUND


class OnEventResult(TypedDict):
    """What ``on_event`` returns to the Provider framework."""

    PhysicalResourceId: str
    Data: NotRequired[dict[str, str]]


class IsCompleteResult(TypedDict):
    """What ``is_complete`` returns; Data is only allowed once complete."""

    IsComplete: bool
    Data: NotRequired[dict[str, str]]


class DeleteStep(enum.Enum):
    """The next move towards a deleted resource; action values are API operations."""

    DONE = "done"
    WAIT = "wait"
    FAIL = "fail"
    CANCEL = "CancelRunBatch"
    DELETE_RUNS = "DeleteRunBatch"
    DELETE_BATCH = "DeleteBatch"


def is_batch_id(value: str | None) -> bool:
    """Whether ``value`` can be a HealthOmics batch id (and so is worth a call)."""
    return _BATCH_ID.fullmatch(value or "") is not None


def request_id(event: Mapping[str, Any]) -> str:
    """StartRunBatch's idempotency token: this resource of this stack with this definition.

    The same definition asked for again returns the batch it already started instead of
    a second one: a re-delivered Create, and also the rollback of a failed replacing
    Update, which sends the old definition back while its batch is still running (a
    token per request would run all of its runs a second time). Another stack, another
    resource or another definition starts its own batch.
    """
    properties = event.get("ResourceProperties", {})
    definition = {k: v for k, v in properties.items() if k not in contract.NON_DEFINING_PROPERTIES}
    parts = (event["StackId"], event["LogicalResourceId"], json.dumps(definition, sort_keys=True, default=str))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def batch_arn(function_arn: str, batch_id: str) -> str:
    """The ARN a batch in this function's partition, Region and account would have."""
    _, partition, _, region, account, *_ = function_arn.split(":")
    return f"arn:{partition}:omics:{region}:{account}:runBatch/{batch_id}"


def attributes(batch: Mapping[str, Any]) -> dict[str, str]:
    """The resource's attributes from a StartRunBatch or GetBatch response."""
    return {
        contract.ATTR_BATCH_ID: str(batch.get("id", "")),
        contract.ATTR_BATCH_ARN: str(batch.get("arn", "")),
        contract.ATTR_BATCH_UUID: str(batch.get("uuid", "")),
        contract.ATTR_STATUS: str(batch.get("status", "")),
    }


# --- Create, and Update that replaces ---------------------------------------------


def start_batch(client: OmicsClient, props: BatchProperties, token: str, now: float) -> OnEventResult:
    """Start the batch: exactly one StartRunBatch, made idempotent by ``token``.

    Data also says until when the deploy may wait for validation: is_complete gets it
    back from the Provider framework, whose own limit (an hour) serves every batch.
    """
    batch = call(client, "StartRunBatch", **props.start_run_batch_params(token))
    logger.info("Started batch %s (status %s)", batch.get("id"), batch.get("status"))
    data = attributes(batch)
    data[contract.DATA_WAIT_UNTIL] = str(int(now + props.timeout_seconds))
    return {"PhysicalResourceId": str(batch["id"]), "Data": data}


def check_deadline(data: Mapping[str, Any], batch_id: str, now: float) -> None:
    """Fail the deploy once the batch's own timeout has passed with validation unfinished."""
    until = data.get(contract.DATA_WAIT_UNTIL)
    if until is not None and now > float(until):
        raise BatchError(
            f"Batch {batch_id} was still validating when the deploy's timeout ran out. It goes on; "
            "the rollback applies on_delete to it. Raise timeout (at most 60 minutes) to wait longer"
        )


def check_started(client: OmicsClient, batch_id: str, *, missing_is_final: bool = False) -> IsCompleteResult:
    """Whether the new batch has passed validation; raises if validation failed.

    Deploy waits for validation only: runs take hours to days, longer than any
    custom resource may wait. A batch not found is "not readable yet" for a while after
    StartRunBatch, then (``missing_is_final``) an error: HealthOmics handed back a batch
    that no longer exists for a request id used before.
    """
    try:
        batch = call(client, "GetBatch", batch_id, batchId=batch_id)
    except ApiError as err:
        if err.code == NOT_FOUND and missing_is_final:
            raise BatchError(
                f"Batch {batch_id} does not exist: HealthOmics returned it for a definition this resource "
                "started before and whose batch was deleted since. Change batch_name to start a new batch"
            ) from err
        if err.transient or err.code == NOT_FOUND:
            # NOT_FOUND: a batch this new may not be readable everywhere yet.
            logger.warning("Batch %s not readable yet, polling again: %s", batch_id, err)
            return {"IsComplete": False}
        raise
    status = str(batch.get("status", ""))
    if status == "FAILED":
        reason = shorten(str(batch.get("failureReason") or "no reason given"), FAILURE_REASON_LIMIT)
        raise BatchError(f"Batch {batch_id} FAILED: {reason}")
    if status in STARTED_STATUSES:
        logger.info("Batch %s passed validation (status %s)", batch_id, status)
        return {"IsComplete": True, "Data": attributes(batch)}
    if status not in contract.VALIDATING_STATUSES:
        logger.warning("Batch %s has status %r, unknown to this handler: waiting", batch_id, status)
    return {"IsComplete": False}


def start_tracking(states: Any, state_machine_arn: str, batch_id: str) -> bool:
    """Start the batch's tracking execution; False when a transient failure says "try again".

    The execution is named after the batch, so a repeated poll, a retried deploy step or a
    rollback that returns the same batch finds it already running rather than starting two.
    """
    name = contract.execution_name(batch_id)
    try:
        states.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps({"batchId": batch_id}))
    except botocore.exceptions.ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "ExecutionAlreadyExists":
            logger.info("Tracking execution %s of batch %s is already there", name, batch_id)
            return True
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "ThrottlingException" or status >= 500:
            logger.warning("Could not start tracking batch %s yet: %s", batch_id, code)
            return False
        message = shorten(str(err.response.get("Error", {}).get("Message", "")), 120)
        raise BatchError(f"StartExecution of {name} failed for batch {batch_id}: {code}: {message}") from err
    logger.info("Started tracking execution %s of batch %s", name, batch_id)
    return True


# --- Update that keeps the batch ----------------------------------------------------


def update_in_place(
    client: OmicsClient,
    batch_id: str,
    old_tags: Mapping[str, str],
    new_tags: Mapping[str, str],
    fallback_arn: str,
) -> OnEventResult:
    """Apply a tags change (if any) and report the batch's current attributes.

    A batch deleted outside CloudFormation must not fail the update (nor the rollback
    that a failed update would start): its attributes are then reported as NOT_FOUND.
    """
    try:
        batch = call(client, "GetBatch", batch_id, batchId=batch_id)
    except ApiError as err:
        if err.code != NOT_FOUND:
            raise
        logger.warning("Batch %s no longer exists; reporting it as %s", batch_id, NOT_FOUND_STATUS)
        missing = {"id": batch_id, "arn": fallback_arn, "uuid": "", "status": NOT_FOUND_STATUS}
        return {"PhysicalResourceId": batch_id, "Data": attributes(missing)}
    retag(client, batch_id, str(batch.get("arn") or fallback_arn), old_tags, new_tags)
    return {"PhysicalResourceId": batch_id, "Data": attributes(batch)}


def retag(
    client: OmicsClient,
    batch_id: str,
    arn: str,
    old_tags: Mapping[str, str],
    new_tags: Mapping[str, str],
) -> None:
    """Make the batch's tags follow the change from ``old_tags`` to ``new_tags``."""
    changed = {key: value for key, value in new_tags.items() if old_tags.get(key) != value}
    removed = sorted(key for key in old_tags if key not in new_tags)
    if changed:
        call(client, "TagResource", batch_id, resourceArn=arn, tags=changed)
    if removed:
        call(client, "UntagResource", batch_id, resourceArn=arn, tagKeys=removed)
    if changed or removed:
        logger.info("Batch %s: tagged %s, untagged %s", batch_id, sorted(changed), removed)


# --- Delete ----------------------------------------------------------------------------


def next_delete_step(status: str, on_delete: str) -> DeleteStep:
    """The move that brings a batch in ``status`` closer to what ``on_delete`` asks.

    Follows the service's preconditions: cancel only while PENDING, SUBMITTING or
    INPROGRESS; DeleteRunBatch only once PROCESSED or CANCELLED; DeleteBatch only in a
    terminal state (and it leaves runs alone, hence after RUNS_DELETED).
    """
    if status in CANCELLABLE_STATUSES:
        return DeleteStep.CANCEL
    if status not in TERMINAL_STATUSES:
        return DeleteStep.WAIT  # CREATING, STOPPING, RUNS_DELETING, or unknown
    if on_delete == contract.ON_DELETE_CANCEL_RUNS:
        return DeleteStep.DONE
    if status in ("PROCESSED", "CANCELLED"):
        return DeleteStep.DELETE_RUNS
    if status in ("RUNS_DELETED", "FAILED"):
        return DeleteStep.DELETE_BATCH
    return DeleteStep.FAIL  # RUNS_DELETE_FAILED


def advance_delete(client: OmicsClient, batch_id: str, on_delete: str) -> bool:
    """Take the next step of a CANCEL_RUNS or DELETE_RUNS_AND_BATCH delete; True when done.

    Called once from ``on_event`` and then from every ``is_complete`` poll, so it must
    be safe to repeat: it reads the batch, acts at most once, and leaves the waiting
    to the caller.
    """
    try:
        batch = call(client, "GetBatch", batch_id, batchId=batch_id)
    except ApiError as err:
        if err.code == NOT_FOUND:
            logger.info("Batch %s is gone: delete complete", batch_id)
            return True
        if err.transient:
            logger.warning("Batch %s: %s; polling again", batch_id, err)
            return False
        raise
    status = str(batch.get("status", ""))
    step = next_delete_step(status, on_delete)
    logger.info("Batch %s is %s: %s (%s)", batch_id, status, step.name, on_delete)
    if status not in KNOWN_STATUSES:
        logger.warning("Batch %s has status %r, unknown to this handler: waiting", batch_id, status)
    if step is DeleteStep.FAIL:
        raise BatchError(
            f"Batch {batch_id} is RUNS_DELETE_FAILED: HealthOmics could not delete its runs. "
            "Retry the delete, or set on_delete to RETAIN and remove them yourself"
        )
    if step in (DeleteStep.CANCEL, DeleteStep.DELETE_RUNS, DeleteStep.DELETE_BATCH):
        _request(client, step.value, batch_id)
    return step is DeleteStep.DONE


def _request(client: OmicsClient, operation: str, batch_id: str) -> None:
    """Ask for a cancel or delete; one already under way (Conflict) is fine too."""
    try:
        call(client, operation, batch_id, batchId=batch_id)
    except ApiError as err:
        if not (err.code in (CONFLICT, NOT_FOUND) or err.transient):
            raise
        # The next poll re-reads the batch and decides again.
        logger.info("Batch %s: %s not accepted now (%s); polling again", batch_id, operation, err.code)
    else:
        logger.info("Batch %s: %s requested", batch_id, operation)
