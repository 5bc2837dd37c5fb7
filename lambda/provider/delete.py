"""What a Delete does: the stack lets the cohort go, then ``on_delete`` is applied to every batch.

A delete (a destroy, or the cleanup after a replacing update) of a tracked cohort first stops its
tracking executions and *closes* its manifest (``omics_batch_construct_runtime.manifest``): from then on the
tracker starts no batch of it. A start the tracker recorded before the close is in the manifest
(``starting``), and is found by its name once listed; so every batch of the cohort is either in
the list the delete acts on, or never started. Under RETAIN that is all (one poll). Under
CANCEL_RUNS and DELETE_RUNS_AND_BATCH, every batch is asked at once, on every poll, to take its
next step (``lifecycle.advance_delete``), and the delete waits only for what a later step needs.

A delete must end within the custom resource's hour: past ``contract.DELETE_BUDGET_SECONDS`` it
completes with the work requested, and logs what is left and the command that finishes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omics_batch_construct_runtime import contract, lifecycle, tracking
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import ApiError, BatchError
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.lifecycle import ACCESS_DENIED
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore
from omics_batch_construct_runtime.outcome import is_batch_id

from .properties import on_delete_policy

logger = logging.getLogger(__name__)

# The command that finishes a delete the hour cut short, by on_delete (it takes the batches left).
FINISHING_COMMAND = {
    contract.ON_DELETE_CANCEL_RUNS: "omics-batch cancel --yes",
    contract.ON_DELETE_DELETE_RUNS_AND_BATCH: "omics-batch delete --yes",
}


@dataclass(frozen=True)
class Released:
    """The cohort as the delete found it once its tracking was stopped and its manifest closed:
    the batches to act on, those too new to be readable yet (a missing one is not gone), and until
    when a start the tracker recorded may still become a batch."""

    batch_ids: list[str]
    pending_until: float = 0.0
    young: frozenset[str] = frozenset()


def release(
    clients: Clients, properties: Mapping[str, Any], first_batch_id: str, on_delete: str, now: float
) -> Released:
    """Stop the cohort's tracking and close its manifest; the batches the delete must reach.

    Without a tracker (never, or no longer: tracking switched off), nothing can start a batch of
    the cohort: the manifest, if any, is only read, for the batches a tracker once started.
    """
    tracker = properties.get(contract.PROP_TRACKER_ARN)
    report_uri = properties.get(contract.PROP_REPORT_URI)
    if not report_uri:
        return Released([first_batch_id])
    store = ManifestStore(clients.s3, CohortLayout(str(report_uri), first_batch_id))
    if not tracker:
        return _read_only(store, first_batch_id, now)
    cause = f"the resource is deleted ({on_delete})"
    tracking.stop(clients.stepfunctions, str(tracker), first_batch_id, cause)
    try:
        manifest = store.update(lambda current: (current or Manifest(first_batch_id)).closing(now, cause))
    except ApiError as err:
        if err.code not in ACCESS_DENIED:
            raise
        if on_delete == contract.ON_DELETE_RETAIN:
            logger.warning("Cohort %s: its manifest cannot be closed (%s); retained as it is", first_batch_id, err.code)
            return Released([first_batch_id])
        raise BatchError(
            f"Cohort {first_batch_id}: its manifest at {store.layout.manifest} cannot be closed ({err.code}), so the "
            "batches its tracker started cannot be found: grant the deploy's handler role s3:GetObject and "
            "s3:PutObject on it"
        ) from err
    logger.info("Cohort %s: closed; batches %s, starting %s", first_batch_id, manifest.batch_ids, manifest.starting)
    ids = manifest.batch_ids
    young = frozenset(m.batch_id for m in manifest.batches if m.visible_by() > now)
    if manifest.starting is None or on_delete == contract.ON_DELETE_RETAIN:
        return Released(ids, young=young)
    named = [str(b["id"]) for b in lifecycle.batches_named(clients.omics, manifest.starting.batch_name, first_batch_id)]
    ids.extend(batch_id for batch_id in named if batch_id not in ids)
    return Released(ids, 0.0 if named else manifest.starting.settled_by, young)


def _read_only(store: ManifestStore, first_batch_id: str, now: float) -> Released:
    try:
        manifest = store.find()
    except ApiError as err:
        if err.code not in ACCESS_DENIED | {"NoSuchBucket"}:
            raise
        logger.warning("Cohort %s: its manifest cannot be read (%s): the first batch only", first_batch_id, err.code)
        return Released([first_batch_id])
    if manifest is None:
        return Released([first_batch_id])
    young = frozenset(m.batch_id for m in manifest.batches if m.visible_by() > now)
    return Released(manifest.batch_ids, young=young)


def check_delete(event: Mapping[str, Any], clients: Clients, now: float, deadline: Callable[[], bool]) -> bool:
    """One step of the delete for the whole cohort; True when it is done.

    A failure that may pass (throttling, a 5xx, a manifest that kept changing) is "not yet", until
    the delete's hour runs out: then it completes, saying what it could not do.
    """
    batch_id = str(event.get("PhysicalResourceId", ""))
    # Anything but a batch id (the Provider framework's create-failed marker) never named a batch.
    if not is_batch_id(batch_id):
        logger.info("%r is not a batch id (a create that failed?): nothing to delete", batch_id)
        return True
    properties = event.get("ResourceProperties", {})
    on_delete = on_delete_policy(properties)
    started_at = float((event.get("Data") or {}).get(contract.DATA_STARTED_AT) or now)
    try:
        return _step(clients, properties, batch_id, on_delete, now, started_at, deadline)
    except ApiError as err:
        if not err.transient:
            raise
        if now - started_at < contract.DELETE_BUDGET_SECONDS:
            logger.warning("Cohort %s: %s; polling again", batch_id, err)
            return False
        logger.warning(
            "Cohort %s: the delete's hour is nearly over and %s; finishing. %s",
            batch_id,
            err,
            _finish(on_delete, [batch_id]),
        )
        return True


def _step(
    clients: Clients,
    properties: Mapping[str, Any],
    batch_id: str,
    on_delete: str,
    now: float,
    started_at: float,
    deadline: Callable[[], bool],
) -> bool:
    released = release(clients, properties, batch_id, on_delete, now)
    if on_delete == contract.ON_DELETE_RETAIN:
        logger.info("Cohort %s is retained (%s): batches %s", batch_id, on_delete, released.batch_ids)
        return True
    progress = [lifecycle.advance_delete(clients.omics, b, on_delete, deadline) for b in released.batch_ids]
    # A batch the tracker started moments ago may not be readable yet: not found is not gone.
    left = [p for p in progress if not p.done or (p.missing and p.batch_id in released.young)]
    waiting = now < released.pending_until
    logger.info(
        "Cohort %s: %d of %d batches done with %s%s",
        batch_id,
        len(progress) - len(left),
        len(progress),
        on_delete,
        ", waiting for a start the tracker recorded" if waiting else "",
    )
    if not left and not waiting:
        return True
    if now - started_at >= contract.DELETE_BUDGET_SECONDS:
        logger.warning(
            "Cohort %s: the delete's hour is nearly over; finishing with the work requested. Left: %s%s. %s",
            batch_id,
            "; ".join(f"batch {p.batch_id}: {p.left}" for p in left) or "none",
            "; a start the tracker recorded may still be listed" if waiting else "",
            _finish(on_delete, [p.batch_id for p in left] or [batch_id]),
        )
        return True
    return False


def _finish(on_delete: str, batch_ids: list[str]) -> str:
    """The command that finishes what a delete left."""
    return (
        f"Finish it with: {' '.join([FINISHING_COMMAND[on_delete], *batch_ids])}"
        if on_delete in FINISHING_COMMAND
        else ""
    )
