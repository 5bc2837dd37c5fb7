"""What each CloudFormation request does to a run batch, as functions of a client.

Nothing here sleeps: every wait is a "not yet" returned to the Provider framework,
which calls ``is_complete`` again after its query interval. Every step re-reads the
batch first, so a step repeated after a timeout or a re-delivered event is harmless.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from omics_common import contract
from omics_common.errors import CONFLICT, NOT_FOUND, ApiError, BatchError, OmicsClient, call, shorten

from .properties import BatchProperties

logger = logging.getLogger(__name__)

# The life cycle, in the groups the handler acts on. A status in none of them is one
# the service added after this release: treated as "not finished yet", never a crash.
CANCELLABLE_STATUSES = frozenset({"PENDING", "SUBMITTING", "INPROGRESS"})
TRANSITION_STATUSES = frozenset({"STOPPING", "RUNS_DELETING"})
TERMINAL_STATUSES = contract.TERMINAL_STATUSES
KNOWN_STATUSES = contract.VALIDATING_STATUSES | CANCELLABLE_STATUSES | TRANSITION_STATUSES | TERMINAL_STATUSES
# Past validation and alive: the deploy may finish.
STARTED_STATUSES = KNOWN_STATUSES - contract.VALIDATING_STATUSES - contract.DEAD_STATUSES

FAILURE_REASON_LIMIT = 150
NOT_FOUND_STATUS = contract.STATUS_NOT_FOUND
# How far HealthOmics' creationTime and this function's clock may disagree.
CLOCK_SKEW_SECONDS = 60
# Dead or gone batches of one definition a walk passes over before it asks for a new name.
MAX_GENERATIONS = 25


class OnEventResult(TypedDict):
    """What ``on_event`` returns to the Provider framework."""

    PhysicalResourceId: str
    Data: NotRequired[dict[str, str]]


class IsCompleteResult(TypedDict):
    """What ``is_complete`` returns; Data is only allowed once complete.

    A PhysicalResourceId replaces on_event's (the Provider framework supports it).
    """

    IsComplete: bool
    PhysicalResourceId: NotRequired[str]
    Data: NotRequired[dict[str, str]]


class DeleteStep(enum.Enum):
    """The next move towards a deleted resource; action values are API operations."""

    DONE = "done"
    WAIT = "wait"
    FAIL = "fail"
    CANCEL = "CancelRunBatch"
    DELETE_RUNS = "DeleteRunBatch"
    DELETE_BATCH = "DeleteBatch"


def definition_token(event: Mapping[str, Any]) -> str:
    """The definition's idempotency token: this resource of this stack with this definition.

    The same definition asked for again finds the batch it already started instead of a
    second one: a re-delivered Create, and also the rollback of a failed replacing Update,
    which sends the old definition back while its batch is still running (a token per
    request would run all of its runs a second time). Another stack, another resource or
    another definition starts its own batch. Generation 0 of the definition uses it as is;
    see ``request_id``.
    """
    properties = event.get("ResourceProperties", {})
    definition = {k: v for k, v in properties.items() if k not in contract.NON_DEFINING_PROPERTIES}
    parts = (event["StackId"], event["LogicalResourceId"], json.dumps(definition, sort_keys=True, default=str))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def request_id(definition: str, generation: int) -> str:
    """StartRunBatch's requestId for a generation of a definition (at most 128 characters).

    A definition's batch that is dead (failed, cancelled, its runs deleted, or the batch
    deleted) is never handed back as this deploy's batch: the deploy moves on to the next
    generation, whose token is new, so HealthOmics starts a fresh batch. Every request walks
    the same chain from the same start, so a re-delivered request, a retried handler and a
    rollback find the same batch and never start a second one.
    """
    return definition if generation == 0 else f"{definition}-{generation}"


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


@dataclass(frozen=True)
class Walk:
    """One request's walk along its definition's chain of generations.

    ``generation`` is where the walk starts (on_event: 0; is_complete: where on_event
    stopped), ``started_at`` when on_event began, which tells a batch this request started
    from one an earlier deploy left behind.
    """

    props: BatchProperties
    definition: str
    generation: int
    started_at: float

    def data(self, generation: int, batch: Mapping[str, Any]) -> dict[str, str]:
        """The Data that hands this walk on to is_complete (and becomes attributes)."""
        return {
            **attributes(batch),
            contract.DATA_GENERATION: str(generation),
            contract.DATA_STARTED_AT: repr(self.started_at),
        }

    @classmethod
    def of(cls, props: BatchProperties, definition: str, data: Mapping[str, Any]) -> Walk:
        """The walk on_event handed over in its Data."""
        return cls(props, definition, int(data[contract.DATA_GENERATION]), float(data[contract.DATA_STARTED_AT]))


@dataclass(frozen=True)
class Found:
    """Where a walk stopped: the first batch of the chain that is not a dead one left behind.

    ``batch`` is its GetBatch, or None while it cannot be read (not visible yet, throttled).
    """

    generation: int
    batch_id: str
    batch: Mapping[str, Any] | None


def start_batch(client: OmicsClient, props: BatchProperties, definition: str, now: float) -> OnEventResult:
    """Start the definition's batch, or find the one it already has.

    Walks the generations from 0: each StartRunBatch is idempotent, and the batch it
    answers with is judged by GetBatch (never by StartRunBatch's own status, which for a
    repeated requestId may be the first answer's). A dead batch an earlier deploy left is
    passed over; the first other one is this deploy's, and is_complete waits for it.
    """
    walk = Walk(props, definition, 0, now)
    found = advance(client, walk, None, now)
    batch = found.batch or {"id": found.batch_id}
    return {"PhysicalResourceId": found.batch_id, "Data": walk.data(found.generation, batch)}


def check_started(client: OmicsClient, walk: Walk, batch_id: str, now: float) -> IsCompleteResult:
    """Whether this request's batch has passed validation; raises if it failed.

    Deploy waits for validation only: runs take hours to days, longer than any custom
    resource may wait. When the batch on_event found turns out to be gone (deleted since an
    earlier deploy), the walk goes on to the next generation, and the result names the batch
    it ends at as the resource's PhysicalResourceId (the Provider framework takes it from
    is_complete, as its own tests show).
    """
    found = advance(client, walk, batch_id, now)
    if found.batch is None:
        return _not_yet(walk, found.batch_id, now)
    status = str(found.batch.get("status", ""))
    if status in contract.DEAD_STATUSES:
        raise _dead_in_this_deploy(found.batch_id, status, found.batch)
    if status in STARTED_STATUSES:
        logger.info("Batch %s passed validation (status %s)", found.batch_id, status)
        return {
            "IsComplete": True,
            "PhysicalResourceId": found.batch_id,
            "Data": walk.data(found.generation, found.batch),
        }
    if status not in contract.VALIDATING_STATUSES:
        logger.warning("Batch %s has status %r, unknown to this handler: waiting", found.batch_id, status)
    return _not_yet(walk, found.batch_id, now)


def advance(client: OmicsClient, walk: Walk, batch_id: str | None, now: float) -> Found:
    """From the walk's generation (whose batch is ``batch_id``, None: not asked for yet) to
    the first batch that is not dead and left behind.

    A batch that cannot be read is the end of the walk for now, unless it has stayed
    unreadable past ``contract.NOT_VISIBLE_GRACE_SECONDS`` since this request could first have started
    it: then it is gone (HealthOmics hands back a deleted batch's id for its requestId), and
    the walk moves on. Generation ``g + k`` is first asked for no sooner than ``k`` graces
    after on_event, so it is judged gone only after a grace of its own.
    """
    generation = walk.generation
    while True:
        if generation - walk.generation >= MAX_GENERATIONS:
            raise BatchError(
                f"{MAX_GENERATIONS} batches of this definition in a row are dead or gone. "
                "Change batch_name to start afresh, or remove the dead batches"
            )
        if batch_id is None:
            batch_id = _start(client, walk.props, request_id(walk.definition, generation))
        batch = _read(client, batch_id)
        if batch is None:
            hops = generation - walk.generation
            if now - walk.started_at <= (hops + 1) * contract.NOT_VISIBLE_GRACE_SECONDS:
                return Found(generation, batch_id, None)
            logger.warning(
                "Batch %s (generation %d) does not exist: starting the next generation", batch_id, generation
            )
        elif not _left_behind(batch, walk.started_at):
            return Found(generation, batch_id, batch)
        else:
            logger.info(
                "Batch %s (generation %d) is %s since an earlier deploy: starting the next generation",
                batch_id,
                generation,
                batch.get("status"),
            )
        generation += 1
        batch_id = None


def _start(client: OmicsClient, props: BatchProperties, token: str) -> str:
    """One idempotent StartRunBatch; the batch id it answers with."""
    batch = call(client, "StartRunBatch", **props.start_run_batch_params(token))
    logger.info("StartRunBatch answered batch %s (status %s)", batch.get("id"), batch.get("status"))
    return str(batch["id"])


def _read(client: OmicsClient, batch_id: str) -> Mapping[str, Any] | None:
    """GetBatch; None when the batch cannot be read now (not found, or a transient failure)."""
    try:
        batch: Mapping[str, Any] = call(client, "GetBatch", batch_id, batchId=batch_id)
    except ApiError as err:
        if err.code == NOT_FOUND or err.transient:
            logger.warning("Batch %s not readable now: %s", batch_id, err)
            return None
        raise
    return batch


def _left_behind(batch: Mapping[str, Any], started_at: float) -> bool:
    """Whether the batch is dead and was created before this request began.

    A dead batch this request started itself (validation failed, or someone cancelled it
    while the deploy waited) is this deploy's outcome, not one to pass over. Without a
    creation time the batch counts as this request's: a failure is reported, never retried
    blindly.
    """
    if str(batch.get("status", "")) not in contract.DEAD_STATUSES:
        return False
    created = batch.get("creationTime")
    if not isinstance(created, datetime.datetime):
        return False
    return created.timestamp() < started_at - CLOCK_SKEW_SECONDS


def _dead_in_this_deploy(batch_id: str, status: str, batch: Mapping[str, Any]) -> BatchError:
    if status == "FAILED":
        reason = shorten(str(batch.get("failureReason") or "no reason given"), FAILURE_REASON_LIMIT)
        return BatchError(f"Batch {batch_id} FAILED: {reason}")
    return BatchError(
        f"Batch {batch_id} is {status}: it was stopped while the deploy waited for validation. "
        "Deploy again to start a fresh batch"
    )


def _not_yet(walk: Walk, batch_id: str, now: float) -> IsCompleteResult:
    """Not complete yet, unless the batch's own timeout has passed with validation unfinished."""
    if now > walk.started_at + walk.props.timeout_seconds:
        raise BatchError(
            f"Batch {batch_id} was still validating when the deploy's timeout ran out. It goes on; "
            "the rollback applies on_delete to it. Raise timeout (at most 60 minutes) to wait longer"
        )
    return {"IsComplete": False}


def start_tracking(states: Any, state_machine_arn: str, batch_id: str) -> bool:
    """Start the batch's tracking execution; False when a transient failure says "try again".

    The execution is named after the batch, so a repeated poll, a retried deploy step or a
    rollback that returns the same batch finds it already running rather than starting two.
    """
    name = contract.execution_name(batch_id)
    try:
        call(
            states,
            "StartExecution",
            batch_id,
            stateMachineArn=state_machine_arn,
            name=name,
            input=json.dumps({"batchId": batch_id}),
        )
    except ApiError as err:
        if err.code == "ExecutionAlreadyExists":
            logger.info("Tracking execution %s of batch %s is already there", name, batch_id)
            return True
        if err.transient:
            logger.warning("Could not start tracking batch %s yet: %s", batch_id, err.code)
            return False
        raise BatchError(
            f"StartExecution of {name} failed for batch {batch_id}: {err.code}: {shorten(err.message, 120)}"
        ) from err
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
