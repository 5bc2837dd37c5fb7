"""Entry points of the run batch custom resource (CDK ``custom_resources.Provider``).

``on_event`` starts, updates or begins deleting the batch; ``is_complete`` is polled by
the framework until the batch has passed validation or the delete has finished. Both
read the event, pick the work, and leave it to the client-taking functions in
``provider.batch``. Every failure leaves as one RunBatchResourceError whose message is
the CloudFormation reason, naming the batch and this invocation's log.

The AWS clients are held as the tracker holds them (``omics_common.clients``): made on
first use and kept for the container's life; tests pass their own ``clients=``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from omics_common import contract, manifest
from omics_common.clients import Clients
from omics_common.errors import BatchError, OmicsClient, RunBatchResourceError, failure_reason
from omics_common.outcome import is_batch_id

from . import batch
from .batch import IsCompleteResult, OnEventResult
from .properties import (
    changed_definition,
    on_delete_policy,
    parse_properties,
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
    return _reporting_failures(context, lambda: _dispatch_event(event, context, given))


def is_complete(
    event: Event, context: LambdaContext, clients: Clients | None = None, clock: Callable[[], float] = time.time
) -> IsCompleteResult:
    """Provider framework ``isComplete``: whether the request's work is finished (tests pass a
    simulated ``clock``: the deploy's and the destroy's waits are measured in its seconds)."""
    _log_event("is_complete", event)
    given = clients or container_clients()
    result = _reporting_failures(context, lambda: _check_event(event, given, clock()))
    logger.info("is_complete: %s", json.dumps(result))
    return result


# --- on_event ------------------------------------------------------------------------


def _dispatch_event(event: Event, context: LambdaContext, clients: Clients) -> OnEventResult:
    request_type = event["RequestType"]
    if request_type == "Create":
        return create(event, clients.omics)
    if request_type == "Update":
        return update(event, context, clients.omics)
    if request_type == "Delete":
        return delete(event, clients)
    raise BatchError(f"Unknown RequestType {request_type!r}")


def create(event: Event, client: OmicsClient) -> OnEventResult:
    """Start the batch the properties describe (or find the one this definition has)."""
    props = parse_properties(event["ResourceProperties"], start_run_batch_input(client))
    return batch.start_batch(client, props, batch.definition_token(event), time.time())


def update(event: Event, context: LambdaContext, client: OmicsClient) -> OnEventResult:
    """Start a replacement batch if the batch's definition changed, else retag in place."""
    shape = start_run_batch_input(client)
    new, old = event["ResourceProperties"], event.get("OldResourceProperties", {})
    props = parse_properties(new, shape)
    batch_id = str(event["PhysicalResourceId"])
    changed = changed_definition(old, new, shape)
    if changed:
        logger.info("Batch %s is replaced: %s changed", batch_id, ", ".join(changed))
        return batch.start_batch(client, props, batch.definition_token(event), time.time())
    old_tags = dict(old.get(contract.PROP_TAGS) or {})
    fallback_arn = batch.batch_arn(context.invoked_function_arn, batch_id)
    return batch.update_in_place(client, batch_id, old_tags, props.tags, fallback_arn)


def delete(event: Event, clients: Clients) -> OnEventResult:
    """Stop the cohort's tracking, then take the first step of the delete the resource's OnDelete
    asks for, for every batch of the cohort.

    The tracking is stopped under every policy, RETAIN too: the batches deployed run on as
    asked, but nothing starts a batch after the stack let go of them (and the stop comes
    first, so that no batch starts after the manifest was read).
    """
    _check_delete(event, clients, time.time())  # is_complete polls until it says done
    return {"PhysicalResourceId": str(event["PhysicalResourceId"])}


def _stop_tracking(event: Event, clients: Clients) -> manifest.Stop | None:
    """Stop the cohort's running executions (None: the resource has no tracking)."""
    batch_id = str(event["PhysicalResourceId"])
    properties = event.get("ResourceProperties", {})
    tracker = properties.get(contract.PROP_TRACKER_ARN)
    if not (tracker and is_batch_id(batch_id)):
        return None
    cause = f"the resource is deleted ({on_delete_policy(properties)})"
    return manifest.stop_tracking(clients.stepfunctions, str(tracker), batch_id, cause)


def _advance_cohort_delete(event: Event, clients: Clients, first_batch_id: str, on_delete: str, now: float) -> bool:
    """One step towards on_delete for each batch of the cohort (all of them, every time); True when done."""
    report_uri = event.get("ResourceProperties", {}).get(contract.PROP_REPORT_URI)
    cohort = manifest.cohort_batches(clients.s3, clients.omics, report_uri, first_batch_id, now)
    done = [batch.advance_delete(clients.omics, batch_id, on_delete) for batch_id in cohort.ids]
    logger.info("Cohort %s: %d of %d batches done with %s", first_batch_id, sum(done), len(done), on_delete)
    return all(done) and cohort.settled


def _check_delete(event: Event, clients: Clients, now: float) -> IsCompleteResult:
    """Done once every batch of the cohort is, and no task of its stopped tracking can still run.

    Each poll stops the cohort's executions again: a ``continue`` task under way when the
    tracking was stopped may have started a fresh execution since, and a check under way may
    have started a batch (the manifest names it, or the batch it was starting).
    """
    batch_id = str(event["PhysicalResourceId"])
    stop = _stop_tracking(event, clients)
    on_delete = _delete_action(event)
    done = on_delete is None or _advance_cohort_delete(event, clients, batch_id, on_delete, now)
    if done and stop is not None and not stop.quiet(now):
        logger.info(
            "Cohort %s: waiting %d s more for the last task of its stopped tracking (stopped now: %d)",
            batch_id,
            max(0, int(stop.quiet_after - now)),
            len(stop.stopped),
        )
        return {"IsComplete": False}
    return {"IsComplete": done}


# --- is_complete ---------------------------------------------------------------------


def _check_event(event: Event, clients: Clients, now: float) -> IsCompleteResult:
    client = clients.omics
    request_type = event["RequestType"]
    batch_id = str(event["PhysicalResourceId"])
    if request_type == "Delete":
        return _check_delete(event, clients, now)
    tracker = event["ResourceProperties"].get(contract.PROP_TRACKER_ARN)
    data = event.get("Data") or {}
    if contract.DATA_GENERATION not in data:
        # An Update in place: on_event did the rest. Tracking switched on (or moved) starts now.
        old_tracker = event.get("OldResourceProperties", {}).get(contract.PROP_TRACKER_ARN)
        if tracker and tracker != old_tracker:
            return {"IsComplete": batch.start_tracking(clients.stepfunctions, tracker, batch_id)}
        return {"IsComplete": True}
    props = parse_properties(event["ResourceProperties"], start_run_batch_input(client))
    walk = batch.Walk.of(props, batch.definition_token(event), data)
    result = batch.check_started(client, walk, batch_id, now)
    if (
        result["IsComplete"]
        and tracker
        and not batch.start_tracking(clients.stepfunctions, tracker, result["PhysicalResourceId"])
    ):
        return {"IsComplete": False}  # a transient failure: the next poll starts it
    return result


# --- shared ----------------------------------------------------------------------------


def _delete_action(event: Event) -> str | None:
    """The OnDelete policy to carry out, or None when Delete needs no API call."""
    batch_id = str(event.get("PhysicalResourceId", ""))
    # Anything but a batch id (the Provider framework's create-failed marker) never named a batch.
    if not is_batch_id(batch_id):
        logger.info("%r is not a batch id (a create that failed?): nothing to delete", batch_id)
        return None
    on_delete = on_delete_policy(event.get("ResourceProperties", {}))
    if on_delete == contract.ON_DELETE_RETAIN:
        logger.info("Batch %s is retained (%s)", batch_id, on_delete)
        return None
    return on_delete


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
