"""Entry point of the tracker function: one handler, six actions.

The state machine invokes ``check`` (follow the cohort, start what it needs), ``park``,
``report`` and ``continue`` (a fresh execution carries on) with ``{"action": ...}``;
EventBridge invokes ``resume`` with HealthOmics' "RunBatch Status Change" event (an event
with a "detail-type" is a resume, with or without an ``action``), and ``delayed`` with the
cohort's own "Tracking Delayed" event when the construct monitors it. The work is in the modules
beside this one, as functions of the clients they are given.

Errors leave under the names the state machine handles (``Throttled``,
``BatchNotFound``); see ``tracker.errors``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from omics_batch_construct_runtime import contract, lifecycle, metrics
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.omics import MAX_CALL_SECONDS

from . import cohort, report, waiting
from .cohort import Config, State
from .errors import BadEvent, token_hint, transient_as_throttled

logger = logging.getLogger(__name__)
# Lambda's JSON log format sets the level from the function's configuration; under the
# text format the root logger would drop INFO, so say it here too.
logging.getLogger().setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

Event = Mapping[str, Any]
Result = Mapping[str, Any]

_clients: Clients | None = None
# What an invocation keeps back from its timeout for one call's worst case and saving its work.
WORK_MARGIN_SECONDS = MAX_CALL_SECONDS + 60


class LambdaContext(Protocol):
    """The part of the Lambda context the tracker reads."""

    def get_remaining_time_in_millis(self) -> int: ...


def handler(event: Event, context: LambdaContext) -> Result:
    """Lambda's entry point: the container's clients, made on first use; work that goes on across
    invocations (a settle) stops in time for this one to save it and answer."""
    global _clients
    if _clients is None:
        _clients = Clients()
    seconds = context.get_remaining_time_in_millis() / 1000 - WORK_MARGIN_SECONDS
    return handle(event, _clients, lifecycle.time_budget(max(seconds, 0.0)))


def handle(event: Event, clients: Clients, deadline: Callable[[], bool] = lambda: False) -> Result:
    """Run the event's action; transient failures leave as ``Throttled``."""
    action = action_of(event)
    logger.info("%s: %s", action, json.dumps(loggable(event), default=str))
    act = _ACTIONS.get(action)
    if act is None:
        raise BadEvent(f"Unknown action {action!r}")
    with transient_as_throttled():
        return act(event, clients, deadline)


def action_of(event: Event) -> str:
    """The event's action; an EventBridge event is a resume."""
    if "detail-type" in event and "action" not in event:
        return contract.TRACKER_ACTION_RESUME
    return str(event.get("action", ""))


# --- the actions -------------------------------------------------------------------------


def _check(event: Event, clients: Clients, deadline: Callable[[], bool]) -> Result:
    first = batch_id_of(event)
    return cohort.check(clients, Config.from_event(event, first), State.of(event.get("cohort"), first), deadline)


def _park(event: Event, clients: Clients, _: Callable[[], bool]) -> Result:
    return waiting.park(batch_id_of(event), str(event.get("taskToken") or ""))


def _resume(event: Event, clients: Clients, _: Callable[[], bool]) -> Result:
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise BadEvent("resume: the event has no detail")
    machine = event.get("stateMachineArn")  # the rule's input names it, and the cohort
    if not machine:
        raise BadEvent("resume: the event has no stateMachineArn")
    first = str(event.get("cohortBatchId") or batch_id_of(detail))
    return waiting.resume(
        clients.stepfunctions, str(machine), first, batch_id_of(detail), str(detail.get("status", ""))
    )


def _report(event: Event, clients: Clients, _: Callable[[], bool]) -> Result:
    first = batch_id_of(event)
    return report.report(clients, Config.from_event(event, first), State.of(event.get("cohort"), first))


def _continue(event: Event, clients: Clients, _: Callable[[], bool]) -> Result:
    first = batch_id_of(event)
    machine = event.get("stateMachineArn")  # the execution's own ($$.StateMachine.Id)
    if not machine:
        raise BadEvent("continue: the event has no stateMachineArn")
    name = str(event.get("executionName") or "")  # $$.Execution.Name: the lineage to carry on
    return waiting.carry_on(clients.stepfunctions, str(machine), first, name, State.of(event.get("cohort"), first))


def _delayed(event: Event, clients: Clients, _: Callable[[], bool]) -> Result:
    """A step of the cohort's tracking kept failing (the state machine's "Tracking Delayed" event, which
    the monitoring's rule sends here): one more delay in the metrics, which the delayed-tracking alarm
    reads. It calls nothing, so it is counted whatever the cause of the delay."""
    first = batch_id_of(event)
    logger.warning("Cohort %s: its tracking is delayed at %s", first, event.get("state") or "a step")
    metrics.publish(first, {metrics.TRACKING_DELAYS: 1})
    return {"batchId": first, "delayed": str(event.get("state") or "")}


_ACTIONS: dict[str, Callable[[Event, Clients, Callable[[], bool]], Result]] = {
    contract.TRACKER_ACTION_CHECK: _check,
    contract.TRACKER_ACTION_PARK: _park,
    contract.TRACKER_ACTION_RESUME: _resume,
    contract.TRACKER_ACTION_REPORT: _report,
    contract.TRACKER_ACTION_CONTINUE: _continue,
    contract.TRACKER_ACTION_DELAYED: _delayed,
}


# --- shared ---------------------------------------------------------------------------


def batch_id_of(event: Event) -> str:
    """The event's ``batchId`` (a string, even if sent as a number)."""
    batch_id = event.get("batchId")
    if batch_id in (None, ""):
        raise BadEvent("The event has no batchId")
    return str(batch_id)


def loggable(event: Event) -> dict[str, Any]:
    """The event without what must not, or need not, be logged: the token and the runs."""
    safe = dict(event)
    if "taskToken" in safe:
        safe["taskToken"] = token_hint(safe["taskToken"])
    config = safe.get("config")
    if isinstance(config, Mapping) and isinstance(config.get("parts"), list):
        parts = [
            {**part, "settings": f"<{len(str(part['settings']))} characters of run settings>"}
            if isinstance(part, Mapping) and part.get("settings") is not None
            else part
            for part in config["parts"]
        ]
        safe["config"] = {**config, "parts": parts}
    return safe
