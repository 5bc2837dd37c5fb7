"""Entry points of the run batch custom resource (CDK ``custom_resources.Provider``).

``on_event`` finds or starts, updates or begins deleting the batch; ``is_complete`` is polled
by the framework until the batch has passed validation (and its cohort's tracking runs) or the
delete has finished. Both read the event, pick the work, and leave it to the client-taking
functions in ``provider.batch`` (Create, Update) and ``provider.delete`` (Delete). Every
failure leaves as one RunBatchResourceError whose message is the CloudFormation reason, naming
the batch and this invocation's log.

The AWS clients are held as the tracker holds them (``omics_batch_construct_runtime.clients``): made on
first use and kept for the container's life; tests pass their own ``clients=``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from omics_batch_construct_runtime import contract, lifecycle, tracking
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import ApiError, BatchError, RunBatchResourceError, failure_reason
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import ManifestStore

from . import batch, delete, increment, quota, withdraw
from .batch import IsCompleteResult, OnEventResult
from .properties import (
    BatchProperties,
    changed_definition,
    parse_properties,
    run_count,
    start_run_batch_input,
)

logger = logging.getLogger(__name__)
# Lambda's JSON log format sets the level from the function's configuration; under the
# text format the root logger would drop INFO, so say it here too.
logging.getLogger().setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

Event = Mapping[str, Any]
_T = TypeVar("_T")

_clients: Clients | None = None


class LambdaContext(Protocol):
    """The parts of the Lambda context object the handler reads."""

    log_group_name: str
    log_stream_name: str
    invoked_function_arn: str

    def get_remaining_time_in_millis(self) -> int: ...


def container_clients() -> Clients:
    """The container's clients, each made when first asked for (not at import: cold starts)."""
    global _clients
    if _clients is None:
        _clients = Clients()
    return _clients


def on_event(event: Event, context: LambdaContext, clients: Clients | None = None) -> OnEventResult:
    """Provider framework ``onEvent``: one step for a Create, Update or Delete."""
    _log_event("on_event", event)
    given = clients or container_clients()
    return _reporting_failures(context, lambda: _dispatch_event(event, context, given, time.time()))


def is_complete(
    event: Event, context: LambdaContext, clients: Clients | None = None, clock: Callable[[], float] = time.time
) -> IsCompleteResult:
    """Provider framework ``isComplete``: whether the request's work is finished (tests pass a
    simulated ``clock``: the deploy's and the destroy's waits are measured in its seconds)."""
    _log_event("is_complete", event)
    given = clients or container_clients()
    result = _reporting_failures(context, lambda: _check_event(event, context, given, clock()))
    logger.info("is_complete: %s", json.dumps(result))
    return result


# --- on_event ------------------------------------------------------------------------


def _dispatch_event(event: Event, context: LambdaContext, clients: Clients, now: float) -> OnEventResult:
    request_type = event["RequestType"]
    if request_type == "Create":
        return create(event, clients, now)
    if request_type == "Update":
        return update(event, context, clients, now)
    if request_type == "Delete":
        # The first step here; is_complete polls until it says done.
        delete.check_delete(event, clients, now, _handler_deadline(context))
        return {"PhysicalResourceId": str(event["PhysicalResourceId"]), "Data": {contract.DATA_STARTED_AT: repr(now)}}
    raise BatchError(f"Unknown RequestType {request_type!r}")


def create(event: Event, clients: Clients, now: float) -> OnEventResult:
    """Find the definition's batch that is alive, or start it."""
    props = parse_properties(event["ResourceProperties"], start_run_batch_input(clients.omics))
    return batch.find_or_start(clients.omics, props, event, now, preflight=_preflight(event, clients))


def update(event: Event, context: LambdaContext, clients: Clients, now: float) -> OnEventResult:
    """Find or start the new definition's batch if the definition changed, else retag in place."""
    client = clients.omics
    shape = start_run_batch_input(client)
    new, old = event["ResourceProperties"], event.get("OldResourceProperties", {})
    props = parse_properties(new, shape)
    batch_id = str(event["PhysicalResourceId"])
    changed = changed_definition(old, new, shape)
    if changed and increment.runs_only(changed):
        grown = increment.grow(clients, event, props, now, preflight=_preflight(event, clients))
        if grown is not None:
            return grown
    if changed:
        logger.info("Batch %s is replaced: %s changed", batch_id, ", ".join(changed))
        return batch.find_or_start(client, props, event, now, preflight=_preflight(event, clients))
    old_tags = dict(old.get(contract.PROP_TAGS) or {})
    fallback_arn = batch.batch_arn(context.invoked_function_arn, batch_id)
    return batch.update_in_place(client, batch_id, old_tags, props.tags, fallback_arn)


def _preflight(event: Event, clients: Clients) -> Callable[..., None]:
    """The run quota's check, before a StartRunBatch (of the cohort, or of ``runs`` of it)."""
    cohort = run_count(event["ResourceProperties"])

    def check(props: BatchProperties, runs: int | None = None) -> None:
        quota.check_runs_fit(clients.servicequotas, props.default_run_setting, cohort if runs is None else runs)

    return check


# --- is_complete ---------------------------------------------------------------------


def _check_event(event: Event, context: LambdaContext, clients: Clients, now: float) -> IsCompleteResult:
    request_type = event["RequestType"]
    if request_type == "Delete":
        return {"IsComplete": delete.check_delete(event, clients, now, _handler_deadline(context))}
    batch_id = str(event["PhysicalResourceId"])
    properties = event["ResourceProperties"]
    data = event.get("Data") or {}
    if contract.DATA_STARTED_AT not in data:
        # An Update in place: on_event did the rest, but the cohort's tracking must be running.
        missing = data.get(contract.ATTR_STATUS) == lifecycle.NOT_FOUND_STATUS
        if not (missing or ensure_tracking(clients, properties, batch_id)):
            return {"IsComplete": False}
        return {"IsComplete": _withdrawn(event, context, clients, now)}
    props = parse_properties(properties, start_run_batch_input(clients.omics))
    started_at = float(data[contract.DATA_STARTED_AT])
    increment_id = data.get(contract.DATA_INCREMENT)
    waited = str(increment_id or batch_id)  # a growing cohort's revision waits for its increment's batch
    result = batch.check_started(clients.omics, waited, started_at, props.timeout_seconds, now)
    if result["IsComplete"] and not ensure_tracking(clients, properties, batch_id):
        return {"IsComplete": False}  # the next poll starts it
    if result["IsComplete"] and increment_id:
        if not _withdrawn(event, context, clients, now):
            return {"IsComplete": False}
        # The resource is still the cohort's first batch; its attributes stay that batch's.
        grown = (contract.DATA_INCREMENT, contract.DATA_WITHDRAWN)
        first = {key: value for key, value in data.items() if key not in grown}
        return {"IsComplete": True, "PhysicalResourceId": batch_id, "Data": first}
    return result


def _withdrawn(event: Event, context: LambdaContext, clients: Clients, now: float) -> bool:
    """Whether the samples a growing cohort's revision removed have their runs stopped (on_delete
    CANCEL_RUNS) or deleted (DELETE_RUNS_AND_BATCH); raises once the batch's timeout has run out."""
    since = (event.get("Data") or {}).get(contract.DATA_WITHDRAWN)
    if not since:
        return True
    properties = event["ResourceProperties"]
    layout = CohortLayout(str(properties[contract.PROP_REPORT_URI]), str(event["PhysicalResourceId"]))
    left = withdraw.carry_out(clients, ManifestStore(clients.s3, layout), _handler_deadline(context))
    if not left:
        return True
    props = parse_properties(properties, start_run_batch_input(clients.omics))
    if now > float(since) + props.timeout_seconds:
        shown = ", ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
        raise BatchError(
            f"The runs of {len(left)} removed samples were not stopped (or deleted, as on_delete asks) within "
            f"the batch's timeout: {shown}. The next deploy that changes the cohort's runs goes on with them"
        )
    return False


def ensure_tracking(clients: Clients, properties: Mapping[str, Any], batch_id: str) -> bool:
    """Whenever a deploy ends on a batch, the cohort's tracking runs (or has ended by itself):
    started for a new batch, started again, its manifest reopened, for one a replacement or a
    destroy had let go. False: not yet (a transient failure); the next poll tries again."""
    tracker = properties.get(contract.PROP_TRACKER_ARN)
    if not tracker:
        return True
    report_uri = properties.get(contract.PROP_REPORT_URI)
    store = ManifestStore(clients.s3, CohortLayout(str(report_uri), batch_id)) if report_uri else None
    try:
        return tracking.ensure(clients.stepfunctions, str(tracker), batch_id, store=store).settled
    except ApiError as err:
        if not err.transient:
            raise
        logger.warning("Cohort %s: its tracking could not be checked now (%s)", batch_id, err.code)
        return False


# --- shared ----------------------------------------------------------------------------

# What a delete leaves of the handler's 3-minute timeout for its last calls and its answer.
DELETE_MARGIN_MS = 45_000


def _handler_deadline(context: LambdaContext) -> Callable[[], bool]:
    """A delete's sweep of runs one by one stops in time for this invocation to answer."""
    seconds = (context.get_remaining_time_in_millis() - DELETE_MARGIN_MS) / 1000
    return lifecycle.time_budget(max(seconds, 5.0))


def _reporting_failures(context: LambdaContext, work: Callable[[], _T]) -> _T:
    """Run ``work``; any failure becomes one short reason that says where the log is."""
    try:
        return work()
    except Exception as err:
        # A traceback only where it helps: not for failures the handler itself diagnosed.
        logger.error("Request failed: %s", err, exc_info=not isinstance(err, BatchError))
        reason = failure_reason(err, context.log_group_name, context.log_stream_name)
        raise RunBatchResourceError(reason) from err


def _log_event(handler: str, event: Event) -> None:
    """Log the request, without the ResponseURL (a presigned URL that answers for the stack)."""
    safe = {key: value for key, value in event.items() if key != "ResponseURL"}
    logger.info("%s request: %s", handler, json.dumps(safe, default=str))
