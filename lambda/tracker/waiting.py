"""``park`` and ``resume``: the state machine waits for HealthOmics' event, not a poll.

``park`` is the task of ``WaitForEvent`` (a ``.waitForTaskToken`` Lambda invoke): it
returns at once and the execution stays parked on the token. The token needs no storage:
it is in the execution's history, in the ``TaskScheduled`` event's parameters. When
HealthOmics reports that a batch of the cohort ended or has submitted its runs, EventBridge
invokes ``resume``, which finds the cohort's running execution (ListExecutions), reads its
history newest first, finds the token of the wait still open, and sends it back. ``carry_on``
starts the fresh execution that continues a cohort whose execution has made its share of checks.

Every way the token can be stale (the backstop timeout fired first, the execution
ended, the event came twice) is logged and ignored: the state machine's ``Check``
reads the batch again anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypedDict

from omics_batch_construct_runtime import lifecycle, tracking
from omics_batch_construct_runtime.clients import Client
from omics_batch_construct_runtime.errors import ApiError, call

from .cohort import State
from .errors import token_hint

logger = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 100
# Events that close the task opened by the newest TaskScheduled: no wait is open.
TASK_CLOSED = frozenset(
    {"TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed", "TaskStateAborted"}
)
EXECUTION_CLOSED = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
# SendTaskSuccess errors meaning "this wait is already over".
STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class ResumeResult(TypedDict):
    """What ``resume`` did; returned to (and logged by) the asynchronous invocation."""

    resumed: bool
    batchId: str
    status: str
    reason: str


def park(batch_id: str, token: str) -> dict[str, Any]:
    """Leave the execution parked on ``token`` until ``resume`` or the backstop timeout."""
    logger.info("Batch %s: waiting for its status change event (token %s)", batch_id, token_hint(token))
    return {}


def resume(sfn: Client, state_machine_arn: str, first_batch_id: str, batch_id: str, status: str) -> ResumeResult:
    """Send ``{"status": status}`` to the open wait of the cohort's execution, if it has one.

    A batch of the cohort that ended, or that has submitted all its runs (the next part or a
    resubmission may start), wakes the cohort's execution; the state machine discards what
    it is sent and checks the cohort itself.
    """
    if status not in lifecycle.WAKING:
        return _not_resumed(batch_id, status, f"status {status!r} wakes nothing")
    executions = tracking.running(sfn, state_machine_arn, first_batch_id)
    if not executions:
        return _not_resumed(batch_id, status, f"no running execution of cohort {first_batch_id}")
    for arn in executions:
        token = open_wait_token(history(sfn, arn, batch_id))
        if token is None:
            continue
        try:
            call(sfn, "SendTaskSuccess", batch_id, taskToken=token, output=json.dumps({"status": status}))
        except ApiError as err:
            if err.code not in STALE_TOKEN_ERRORS:
                raise
            return _not_resumed(batch_id, status, f"the wait ended meanwhile ({err.code}, token {token_hint(token)})")
        logger.info("Batch %s is %s: resumed %s (token %s)", batch_id, status, arn, token_hint(token))
        return {"resumed": True, "batchId": batch_id, "status": status, "reason": "resumed"}
    return _not_resumed(batch_id, status, "no wait is open (already resumed, timed out, or checking)")


def carry_on(
    sfn: Client, state_machine_arn: str, first_batch_id: str, execution_name: str, state: State
) -> dict[str, Any]:
    """Start the fresh execution that carries the cohort on (Standard executions keep at most
    25,000 history events), next in this execution's lineage; this one then ends."""
    state.continuation += 1
    lineage = tracking.Lineage.of(execution_name) or tracking.Lineage(first_batch_id)
    name = tracking.execution_name(first_batch_id, lineage.continuation + 1, lineage.lineage)
    payload = json.dumps({"batchId": first_batch_id, "check": {"cohort": state.to_json()}})
    try:
        call(sfn, "StartExecution", first_batch_id, stateMachineArn=state_machine_arn, name=name, input=payload)
    except ApiError as err:
        if err.code != "ExecutionAlreadyExists":  # a retried task: it is already carrying on
            raise
    logger.info("Cohort %s: carried on in execution %s", first_batch_id, name)
    return {"continuedAs": name}


def history(sfn: Client, arn: str, batch_id: str) -> Iterator[Mapping[str, Any]]:
    """The execution's history events, newest first, one page at a time as consumed."""
    params: dict[str, Any] = {
        "executionArn": arn,
        "reverseOrder": True,
        "maxResults": HISTORY_PAGE_SIZE,
        "includeExecutionData": True,  # TaskScheduled's parameters hold the token
    }
    while True:
        page = call(sfn, "GetExecutionHistory", batch_id, **params)
        yield from page.get("events", [])
        if not page.get("nextToken"):
            return
        params["nextToken"] = page["nextToken"]


def open_wait_token(events_newest_first: Iterable[Mapping[str, Any]]) -> str | None:
    """The token of the newest task if that task waits on one and is still open.

    Newest first, the first task event decides: a closed task or a closed execution
    means no wait is open; a TaskScheduled is the open task, whose parameters carry a
    token only if it is the ``park`` task (``Check`` and ``Report`` carry none).
    """
    for event in events_newest_first:
        kind = event.get("type")
        if kind in TASK_CLOSED or kind in EXECUTION_CLOSED:
            return None
        if kind == "TaskScheduled":
            return scheduled_token(event)
    return None


def scheduled_token(event: Mapping[str, Any]) -> str | None:
    """The ``taskToken`` in a TaskScheduled event's parameters (a JSON string).

    The Lambda integration's parameters are ``{"FunctionName": ..., "Payload": {...}}``;
    the token is a member of the payload.
    """
    details = event.get("taskScheduledEventDetails") or {}
    try:
        parameters = json.loads(details.get("parameters") or "{}")
    except ValueError:
        return None
    payload = parameters.get("Payload") if isinstance(parameters, dict) else None
    token = payload.get("taskToken") if isinstance(payload, dict) else None
    return token if isinstance(token, str) and token else None


def _not_resumed(batch_id: str, status: str, reason: str) -> ResumeResult:
    logger.info("Batch %s (%s): nothing to resume: %s", batch_id, status, reason)
    return {"resumed": False, "batchId": batch_id, "status": status, "reason": reason}
