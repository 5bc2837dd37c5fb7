"""A run batch's life cycle, in one place: its statuses in the groups the code acts on, one way
to read a batch, and the steps that bring a batch to what ``on_delete`` asks.

The deploy handler, the tracker and the command all judge a batch by these groups and read it
through ``read_batch``, whose policy for a batch that cannot be read is the same everywhere:
a throttled, 5xx or access-denied read is "not now", never "gone"; only ResourceNotFound is
"missing", and what a missing batch means is the caller's to say (a batch just started may not
be visible yet; one deleted is gone).

    CREATING ─▶ PENDING ─▶ SUBMITTING ─▶ INPROGRESS ─▶ PROCESSED ─▶ RUNS_DELETING ─▶ RUNS_DELETED
       (validating)           └────── STOPPING ─▶ CANCELLED ─┘          └▶ RUNS_DELETE_FAILED
                 └──────────────────────────────▶ FAILED

A status this release does not know is "not finished yet" in every group: never a crash.
"""

from __future__ import annotations

import datetime
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.errors import CONFLICT, NOT_FOUND, ApiError, BatchError, OmicsClient, call, shorten

logger = logging.getLogger(__name__)

# --- the statuses, in the groups the code acts on -------------------------------------------
# Validation is under way: the deploy waits.
VALIDATING = frozenset({"CREATING", "PENDING"})
# CancelRunBatch is accepted only in these.
CANCELLABLE = frozenset({"PENDING", "SUBMITTING", "INPROGRESS"})
# On the way to an end nobody needs to ask for again.
TRANSITION = frozenset({"STOPPING", "RUNS_DELETING"})
# Nothing more happens to the batch's runs (DeleteBatch is accepted only in these).
TERMINAL = frozenset({"PROCESSED", "FAILED", "CANCELLED", "RUNS_DELETED", "RUNS_DELETE_FAILED"})
KNOWN = VALIDATING | CANCELLABLE | TRANSITION | TERMINAL
# The batch will never run its runs: cancelled, failed, or its runs deleted. A deploy that finds
# its definition's batch in one of them starts a fresh one.
DEAD = frozenset({"FAILED", "CANCELLED", "STOPPING", "RUNS_DELETING", "RUNS_DELETED", "RUNS_DELETE_FAILED"})
# Past validation and alive: the deploy may finish.
STARTED = KNOWN - VALIDATING - DEAD
# The batch submits no more runs: another batch of the cohort may start. In any other status
# (CREATING, PENDING, SUBMITTING, or one this release does not know) it may still submit.
PAST_SUBMITTING = TERMINAL | {"INPROGRESS", "STOPPING", "RUNS_DELETING"}
# HealthOmics status events the tracker wakes for: a batch ended, or has submitted its runs.
WAKING = TERMINAL | {"INPROGRESS"}
# DeleteRunBatch is accepted only in these.
RUNS_DELETABLE = frozenset({"PROCESSED", "CANCELLED"})
# The Status attribute of a batch deleted outside CloudFormation (reported, not failed).
NOT_FOUND_STATUS = "NOT_FOUND"

# A run's statuses (RunStatus): those CancelRun stops, and those after which DeleteRun may remove it.
ACTIVE_RUN = frozenset({"PENDING", "STARTING", "RUNNING"})
ENDED_RUN = frozenset({"COMPLETED", "FAILED", "CANCELLED"})

# Error codes that mean "not allowed now", which IAM's eventual consistency makes transient for a
# while after a deploy: a read refused this way is unreadable, not gone.
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


def is_unknown(status: str) -> bool:
    return status not in KNOWN


# --- reading a batch --------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """One GetBatch: the answer, or why there is none.

    ``missing``: ResourceNotFound (deleted, or not visible yet); ``error``: the batch could not be
    read now (throttled, 5xx, network, access denied): neither is an answer about the batch.
    """

    batch_id: str
    batch: Mapping[str, Any] | None = None
    missing: bool = False
    error: ApiError | None = None

    @property
    def status(self) -> str:
        return str((self.batch or {}).get("status", ""))

    @property
    def unreadable(self) -> bool:
        return self.error is not None


def read_batch(client: OmicsClient, batch_id: str) -> Read:
    """GetBatch, with the one policy for a batch that cannot be read (see the module's doc)."""
    try:
        batch: Mapping[str, Any] = call(client, "GetBatch", batch_id, batchId=batch_id)
    except ApiError as err:
        if err.code == NOT_FOUND:
            return Read(batch_id, missing=True)
        if err.transient or err.code in ACCESS_DENIED:
            logger.warning("Batch %s cannot be read now: %s", batch_id, err)
            return Read(batch_id, error=err)
        raise
    return Read(batch_id, batch=batch)


def batches_named(client: OmicsClient, name: str, batch_id: str | None = None) -> list[Mapping[str, Any]]:
    """ListBatch's items whose name is exactly ``name``, every page, newest first.

    ListBatch filters by name on the service's side; the name is compared here again, since no
    document says the filter matches exactly.
    """
    params: dict[str, Any] = {"name": name, "maxItems": 100}
    found: list[Mapping[str, Any]] = []
    while True:
        page = call(client, "ListBatch", batch_id, **params)
        found.extend(item for item in page.get("items", []) if item.get("name") == name)
        if not page.get("nextToken"):
            break
        params["startingToken"] = page["nextToken"]
    return sorted(found, key=created_at, reverse=True)


def created_at(item: Mapping[str, Any]) -> float:
    """A ListBatch item's ``createdAt`` (or GetBatch's ``creationTime``) as epoch seconds; 0 if absent."""
    value = item.get("createdAt") or item.get("creationTime")
    return value.timestamp() if isinstance(value, datetime.datetime) else 0.0


def tagged_batches(client: OmicsClient, name: str, tag: str, value: str) -> list[Mapping[str, Any]]:
    """The GetBatch answers of the batches named ``name`` whose tag ``tag`` is ``value``, newest first.

    A batch that cannot be read now leaves the answer undecided: the error is raised (a caller that
    starts a batch when none is found must not start one beside a batch it could not see).
    """
    found = []
    for item in batches_named(client, name):
        read = read_batch(client, str(item["id"]))
        if read.error is not None:
            raise read.error
        if read.batch is not None and (read.batch.get("tags") or {}).get(tag) == value:
            found.append(read.batch)
    return found


# --- bringing a batch to what on_delete asks --------------------------------------------------


class DeleteStep(enum.Enum):
    """The next move towards a deleted resource; action values are API operations."""

    DONE = "done"
    WAIT = "wait"
    CANCEL_EACH = "cancel each run"  # CancelRun for the runs still active, one by one
    DELETE_EACH = "delete each run"  # ... and DeleteRun for those that ended
    CANCEL = "CancelRunBatch"
    DELETE_RUNS = "DeleteRunBatch"
    DELETE_BATCH = "DeleteBatch"


def next_delete_step(batch: Mapping[str, Any], on_delete: str) -> DeleteStep:
    """The move that brings a batch closer to what ``on_delete`` asks.

    Follows the service's preconditions: cancel only while PENDING, SUBMITTING or INPROGRESS;
    DeleteRunBatch only once PROCESSED or CANCELLED; DeleteBatch only in a terminal state (and
    it leaves runs alone, hence after RUNS_DELETED). Runs the batch-wide calls did not reach are
    handled one by one: the runs of a FAILED batch that did start (no batch-wide call reaches
    them), the runs a cancel missed (``failedCancelSubmissionCount``: cancelled one by one, then
    the batch-wide delete goes on), and the runs a delete missed (``failedDeleteSubmissionCount``,
    RUNS_DELETE_FAILED: deleted one by one).
    """
    status = str(batch.get("status", ""))
    summary = batch.get("submissionSummary") or {}
    if status in CANCELLABLE:
        return DeleteStep.CANCEL
    if status not in TERMINAL:
        return DeleteStep.WAIT  # CREATING, STOPPING, RUNS_DELETING, or unknown
    missed_cancels = int(summary.get("failedCancelSubmissionCount") or 0)
    if on_delete == contract.ON_DELETE_CANCEL_RUNS:
        return DeleteStep.CANCEL_EACH if status == "FAILED" or missed_cancels else DeleteStep.DONE
    if status in RUNS_DELETABLE:
        return DeleteStep.CANCEL_EACH if missed_cancels else DeleteStep.DELETE_RUNS
    if status == "RUNS_DELETED" and not int(summary.get("failedDeleteSubmissionCount") or 0):
        return DeleteStep.DELETE_BATCH
    return DeleteStep.DELETE_EACH  # FAILED, RUNS_DELETE_FAILED, or runs the batch-wide delete missed


@dataclass(frozen=True)
class DeleteProgress:
    """Where one batch stands after one step: done, and if not, what is left (for the log).
    ``missing``: GetBatch did not find it (done, unless the caller knows it is too new to show)."""

    batch_id: str
    done: bool
    left: str = ""
    missing: bool = False


def advance_delete(
    client: OmicsClient, batch_id: str, on_delete: str, deadline: Callable[[], bool] = lambda: False
) -> DeleteProgress:
    """Take the next step of a CANCEL_RUNS or DELETE_RUNS_AND_BATCH delete for one batch.

    Called on every poll, so it must be safe to repeat: it reads the batch, acts at most once
    (a sweep acts on each run still to do, until ``deadline()``), and leaves the waiting to the
    caller. A missing batch is done (there is nothing left to stop); an unreadable one waits.
    """
    read = read_batch(client, batch_id)
    if read.missing:
        return DeleteProgress(batch_id, True, "not found", missing=True)
    if read.batch is None:
        return DeleteProgress(batch_id, False, f"unreadable ({read.error.code if read.error else ''})")
    status = read.status
    step = next_delete_step(read.batch, on_delete)
    summary = read.batch.get("submissionSummary") or {}
    if summary.get("failedCancelSubmissionCount"):
        logger.warning(
            "Batch %s: HealthOmics could not cancel %s runs (failedCancelSubmissionCount): cancelling them one by one",
            batch_id,
            summary["failedCancelSubmissionCount"],
        )
    logger.info("Batch %s is %s: %s (%s)", batch_id, status, step.name, on_delete)
    if is_unknown(status):
        logger.warning("Batch %s has status %r, unknown to this release: waiting", batch_id, status)
    if step in (DeleteStep.CANCEL, DeleteStep.DELETE_RUNS, DeleteStep.DELETE_BATCH):
        request(client, step.value, batch_id)
    elif step in (DeleteStep.CANCEL_EACH, DeleteStep.DELETE_EACH):
        left = sweep_runs(client, batch_id, delete=step is DeleteStep.DELETE_EACH, deadline=deadline)
        if left:
            return DeleteProgress(batch_id, False, f"{status}, {left} runs still to {step.value.split()[0]} one by one")
        if on_delete == contract.ON_DELETE_CANCEL_RUNS:
            return DeleteProgress(batch_id, True)
        # Every run reached: the batch-wide delete goes on (its runs' delete, or the batch's).
        request(
            client, (DeleteStep.DELETE_RUNS if status in RUNS_DELETABLE else DeleteStep.DELETE_BATCH).value, batch_id
        )
    if step is DeleteStep.DONE:
        return DeleteProgress(batch_id, True)
    return DeleteProgress(batch_id, False, status)


# Refusals that mean "not in this state now" (a batch that moved on between GetBatch and the call,
# a cancel or delete already under way): the next poll reads it again and decides again.
NOT_NOW = frozenset({CONFLICT, NOT_FOUND, "ValidationException"})


def request(client: OmicsClient, operation: str, batch_id: str) -> None:
    """Ask for a cancel or delete; one already under way, a batch that moved on, or a transient
    refusal is fine: the next poll re-reads the batch and decides again."""
    try:
        call(client, operation, batch_id, batchId=batch_id)
    except ApiError as err:
        if not (err.code in NOT_NOW or err.transient):
            raise
        logger.info("Batch %s: %s not accepted now (%s); polling again", batch_id, operation, err.code)
    else:
        logger.info("Batch %s: %s requested", batch_id, operation)


def sweep_runs(client: OmicsClient, batch_id: str, *, delete: bool, deadline: Callable[[], bool]) -> int:
    """CancelRun each of the batch's runs still active and, with ``delete``, DeleteRun each that
    ended; the number of runs still to do (asked now, or not reached before ``deadline()``).

    ListRuns takes the batch id as a filter, so a run of another batch that reuses an id is never
    touched. A run refused with Conflict or NotFound is left to the next sweep, which lists again.
    """
    left = 0
    params: dict[str, Any] = {"batchId": batch_id, "maxResults": 100}
    while True:
        if deadline():
            return left + 1
        page = call(client, "ListRuns", batch_id, **params)
        for run in page.get("items", []):
            status = str(run.get("status", ""))
            if status in ACTIVE_RUN:
                operation = "CancelRun"
            elif delete and status in ENDED_RUN:
                operation = "DeleteRun"
            elif status == "DELETED" or (not delete and status in ENDED_RUN):
                continue
            else:
                left += 1  # STOPPING, or a status this release does not know: the next sweep looks again
                continue
            left += 1
            if deadline():
                return left
            try:
                call(client, operation, batch_id, id=str(run["id"]))
            except ApiError as err:
                if not (err.code in NOT_NOW or err.transient):
                    raise
        if not page.get("nextToken"):
            return left
        params["startingToken"] = page["nextToken"]


def time_budget(seconds: float, clock: Callable[[], float] = time.monotonic) -> Callable[[], bool]:
    """A deadline ``seconds`` from now: True once it has passed."""
    end = clock() + seconds
    return lambda: clock() >= end


def failed_in_this_deploy(batch_id: str, batch: Mapping[str, Any], limit: int) -> BatchError:
    """The reason a deploy fails with when its own batch died while it waited."""
    status = str(batch.get("status", ""))
    if status == "FAILED":
        reason = shorten(str(batch.get("failureReason") or "no reason given"), limit)
        return BatchError(f"Batch {batch_id} FAILED: {reason}")
    return BatchError(
        f"Batch {batch_id} is {status}: it was stopped while the deploy waited for validation. "
        "Deploy again to start a fresh batch"
    )
