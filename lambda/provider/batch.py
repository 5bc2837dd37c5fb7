"""What a Create or Update does to a run batch, as functions of a client.

A deploy starts its definition's batch at most once, whatever happens around it. A definition is
this account, Region, stack *name*, resource and run definition (``definition_key``); its batch
carries the key as a tag and is found by it (ListBatch by the batch's name, GetBatch for the tag)
before any StartRunBatch, so a re-created stack, a rollback, a re-delivered request and a
retried handler all reach the batch that is alive, and HealthOmics need not remember a
requestId for days. Only when every batch of the definition is dead (failed, cancelled, its runs
deleted) or gone does a deploy start a fresh one.

Nothing here sleeps: every wait is a "not yet" returned to the Provider framework, which calls
``is_complete`` again after its query interval. A batch that cannot be read (throttled, 5xx,
access denied) is "not yet", never "gone".
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from omics_batch_construct_runtime import contract, lifecycle
from omics_batch_construct_runtime.errors import NOT_FOUND, ApiError, BatchError, OmicsClient, call

from .properties import BatchProperties

logger = logging.getLogger(__name__)

FAILURE_REASON_LIMIT = 150
MAX_BATCH_NAME = 64  # the model's batchName
KEY_IN_NAME = 12  # characters of the definition key in a default batch name


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


# --- a definition's identity -------------------------------------------------------------


def stack_parts(stack_id: str) -> tuple[str, str, str, str]:
    """(partition, Region, account, stack name) of a StackId (``arn:...:stack/<name>/<uuid>``)."""
    _, partition, _, region, account, resource = stack_id.split(":", 5)
    return partition, region, account, resource.split("/")[1]


def definition_key(event: Mapping[str, Any]) -> str:
    """The definition's key: this account, Region, stack name, resource and run definition.

    Not the StackId, which CloudFormation makes anew for every stack it creates: a stack created
    again (after a failed first create, or a destroy that retained the batch) has the same key.
    The values CloudFormation names anew with the stack (a run role or output bucket the
    construct made, ``contract.PROP_STABLE_NAMES``) are read by their names, for the same reason.
    """
    properties = event.get("ResourceProperties", {})
    definition = {k: v for k, v in properties.items() if k not in contract.NON_DEFINING_PROPERTIES}
    text = json.dumps(definition, sort_keys=True, default=str)
    stable = properties.get(contract.PROP_STABLE_NAMES) or {}
    for name, value in sorted(stable.items(), key=lambda item: -len(str(item[1]))):
        if isinstance(value, str) and value:
            text = text.replace(value, "${" + name + "}")
    parts = (*stack_parts(str(event["StackId"])), str(event["LogicalResourceId"]), text)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def default_batch_name(event: Mapping[str, Any], key: str) -> str:
    """The name a batch gets when ``batch_name`` is not given: its stack, resource and key, which is
    how a later deploy lists it (ListBatch filters by name)."""
    stack_name = stack_parts(str(event["StackId"]))[3]
    head = f"{stack_name}-{event['LogicalResourceId']}"[: MAX_BATCH_NAME - KEY_IN_NAME - 1]
    return f"{head}-{key[:KEY_IN_NAME]}"


def request_id(key: str, cloudformation_request_id: str) -> str:
    """StartRunBatch's requestId: the definition within this CloudFormation request.

    A re-delivered request or a retried handler asks again with the same token and gets the same
    batch, also one that failed meanwhile (a failure is reported, never retried blindly). Across
    requests the tag decides (``find_or_start``), so the token need not outlive a deploy.
    """
    return hashlib.sha256(f"{key}\n{cloudformation_request_id}".encode()).hexdigest()


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


def find_or_start(
    client: OmicsClient, props: BatchProperties, event: Mapping[str, Any], now: float, *, preflight: Any = None
) -> OnEventResult:
    """The definition's batch that is alive, or a fresh one when there is none.

    ``preflight(props)`` runs before a StartRunBatch (the run quota's check) and may raise.
    """
    key = definition_key(event)
    name = props.batch_name or default_batch_name(event, key)
    found = lifecycle.tagged_batches(client, name, contract.DEFINITION_TAG, key)
    alive = [batch for batch in found if str(batch.get("status", "")) not in lifecycle.DEAD]
    if alive:
        batch = alive[0]
        logger.info("Batch %s of this definition is %s: this deploy's batch", batch["id"], batch.get("status"))
    else:
        for dead in found:
            logger.info("Batch %s of this definition is %s: passed over", dead["id"], dead.get("status"))
        if preflight is not None:
            preflight(props)
        params = props.start_run_batch_params(request_id(key, str(event["RequestId"])))
        params["batchName"] = name
        params["tags"] = {**props.tags, contract.DEFINITION_TAG: key}
        batch = call(client, "StartRunBatch", **params)
        logger.info("StartRunBatch answered batch %s (status %s)", batch.get("id"), batch.get("status"))
    return {"PhysicalResourceId": str(batch["id"]), "Data": {**attributes(batch), contract.DATA_STARTED_AT: repr(now)}}


def check_started(client: OmicsClient, batch_id: str, started_at: float, timeout: int, now: float) -> IsCompleteResult:
    """Whether the deploy's batch has passed validation; raises if it died or vanished.

    Deploy waits for validation only: runs take hours to days, longer than any custom resource
    may wait. A batch that cannot be read is waited for; one HealthOmics has not shown for the
    grace since on_event began is gone (deleted while the deploy waited), and the deploy fails:
    it never starts another on its own.
    """
    read = lifecycle.read_batch(client, batch_id)
    if read.batch is None:
        if read.missing and now - started_at > contract.NOT_VISIBLE_GRACE_SECONDS:
            raise BatchError(
                f"Batch {batch_id} does not exist: it was deleted while the deploy waited for its validation. "
                "Deploy again to start a fresh batch"
            )
        return _not_yet(batch_id, started_at, timeout, now, read)
    status = read.status
    if status in lifecycle.DEAD:
        raise lifecycle.failed_in_this_deploy(batch_id, read.batch, FAILURE_REASON_LIMIT)
    if status in lifecycle.STARTED:
        logger.info("Batch %s passed validation (status %s)", batch_id, status)
        data = {**attributes(read.batch), contract.DATA_STARTED_AT: repr(started_at)}
        return {"IsComplete": True, "PhysicalResourceId": batch_id, "Data": data}
    if lifecycle.is_unknown(status):
        logger.warning("Batch %s has status %r, unknown to this handler: waiting", batch_id, status)
    return _not_yet(batch_id, started_at, timeout, now, read)


def _not_yet(batch_id: str, started_at: float, timeout: int, now: float, read: lifecycle.Read) -> IsCompleteResult:
    """Not complete yet, unless the batch's own timeout has passed with validation unfinished."""
    if now > started_at + timeout:
        why = f" (its last read: {read.error})" if read.error else ""
        raise BatchError(
            f"Batch {batch_id} was still validating when the deploy's timeout ran out{why}. It goes on; "
            "the rollback applies on_delete to it. Raise timeout (at most 60 minutes) to wait longer"
        )
    return {"IsComplete": False}


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
        logger.warning("Batch %s no longer exists; reporting it as %s", batch_id, lifecycle.NOT_FOUND_STATUS)
        missing = {"id": batch_id, "arn": fallback_arn, "uuid": "", "status": lifecycle.NOT_FOUND_STATUS}
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
    """Make the batch's tags follow the change from ``old_tags`` to ``new_tags`` (the definition's
    own tag is in neither, so it stays)."""
    changed = {key: value for key, value in new_tags.items() if old_tags.get(key) != value}
    removed = sorted(key for key in old_tags if key not in new_tags)
    if changed:
        call(client, "TagResource", batch_id, resourceArn=arn, tags=changed)
    if removed:
        call(client, "UntagResource", batch_id, resourceArn=arn, tagKeys=removed)
    if changed or removed:
        logger.info("Batch %s: tagged %s, untagged %s", batch_id, sorted(changed), removed)
