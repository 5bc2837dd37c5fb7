"""``park`` and ``resume``: the state machine waits for HealthOmics' event, not a poll.

``park`` is the task of ``WaitForEvent`` (a ``.waitForTaskToken`` Lambda invoke): it
returns at once and the execution stays parked on the token. The token needs no storage:
it is in the execution's history, in the ``TaskScheduled`` event's parameters. When
HealthOmics reports a terminal status, EventBridge invokes ``resume``, which reads the
history newest first, finds the token of the wait still open, and sends it back.

Every way the token can be stale (the backstop timeout fired first, the execution
ended, the event came twice) is logged and ignored: the state machine's ``Check``
reads the batch again anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypedDict

from omics_common import contract
from omics_common.clients import Client
from omics_common.errors import ApiError, call

from .errors import BadEvent, token_hint

logger = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 100
# Events that close the task opened by the newest TaskScheduled: no wait is open.
TASK_CLOSED = frozenset(
    {"TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed", "TaskStateAborted"}
)
EXECUTION_CLOSED = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
# SendTaskSuccess errors meaning "this wait is already over".
STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
EXECUTION_GONE = "ExecutionDoesNotExist"


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


def execution_arn(state_machine_arn: str, batch_id: str) -> str:
    """The ARN of the batch's tracking execution, named by ``contract.execution_name``."""
    parts = state_machine_arn.split(":")
    if len(parts) != 7 or parts[0] != "arn" or parts[5] != "stateMachine":
        raise BadEvent(f"Not a state machine ARN: {state_machine_arn!r}")
    return ":".join([*parts[:5], "execution", parts[6], contract.execution_name(batch_id)])


def resume(sfn: Client, state_machine_arn: str, batch_id: str, status: str) -> ResumeResult:
    """Send ``{"status": status}`` to the batch's open wait, if it has one (the state machine discards it)."""
    if status not in contract.TERMINAL_STATUSES:
        return _not_resumed(batch_id, status, f"status {status!r} is not terminal")
    arn = execution_arn(state_machine_arn, batch_id)
    try:
        token = open_wait_token(history(sfn, arn, batch_id))
    except ApiError as err:
        if err.code != EXECUTION_GONE:
            raise
        return _not_resumed(batch_id, status, f"no execution {arn}")
    if token is None:
        return _not_resumed(batch_id, status, "no wait is open (already resumed, timed out, or checking)")
    try:
        call(sfn, "SendTaskSuccess", batch_id, taskToken=token, output=json.dumps({"status": status}))
    except ApiError as err:
        if err.code not in STALE_TOKEN_ERRORS:
            raise
        return _not_resumed(batch_id, status, f"the wait ended meanwhile ({err.code}, token {token_hint(token)})")
    logger.info("Batch %s is %s: resumed its execution (token %s)", batch_id, status, token_hint(token))
    return {"resumed": True, "batchId": batch_id, "status": status, "reason": "resumed"}


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
