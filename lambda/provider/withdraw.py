"""Samples a revision removed from a growing cohort, under CANCEL_RUNS or DELETE_RUNS_AND_BATCH: their
runs cancelled (or cancelled, then deleted), one by one, only theirs.

on_event finds them (``removed``: in the revision the stack had, not in the one it has now) and
records them (``record``): a file in the cohort's folder, each entry with its digest and the batches
that hold it, named in the manifest as a pending withdrawal. Each is_complete poll then does what is
left (``carry_out``), from what HealthOmics says now, so a crashed or re-delivered request repeats
nothing that was done: a run already STOPPING, CANCELLED or deleted is skipped. The deploy completes
once every withdrawn sample's run is stopped (deleted, under DELETE_RUNS_AND_BATCH), and fails, naming
the samples, when that has not happened within the batch's ``timeout``. A recorded withdrawal is
carried out whatever comes next: the next revision that grows the cohort (a rollback included) goes
on with it, and a sample it puts back runs again.

A run is acted on only after GetRun says it is still the run the batch listed (its uuid): HealthOmics
reuses a deleted run's id. A sample still waiting to be submitted is waited for. A withdrawn entry is
no longer given to the cohort: added again, it runs again (provider/increment.py).

At most ``MAX_WITHDRAWN`` samples per deploy: each costs a few calls on every poll until it is done.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from omics_batch_construct_runtime import contract, lifecycle, outcome, s3files
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import ApiError, BatchError, call
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore, Withdrawal

logger = logging.getLogger(__name__)

MAX_WITHDRAWN = 1_000
ACTIVE_RUN = frozenset({"PENDING", "STARTING", "RUNNING"})
# What each policy leaves a removed sample's run in, once done.
STOPPED = {
    contract.ON_DELETE_CANCEL_RUNS: frozenset({"STOPPING", "CANCELLED", "COMPLETED", "FAILED", "DELETED"}),
    contract.ON_DELETE_DELETE_RUNS_AND_BATCH: frozenset({"DELETED"}),
}


def entries_of(clients: Clients, sources: Iterable[str], batch_id: str) -> Iterator[dict[str, Any]]:
    for uri in sources:
        yield from outcome.s3_settings(clients.s3, uri, batch_id)


def removed(clients: Clients, before: Sequence[str], kept: set[int], first: str) -> list[dict[str, Any]]:
    """The entries of the revision ``before`` (its settings files) whose samples are not ``kept``
    (the revision's runSettingIds as ``s3files.id_digest``)."""
    gone = []
    for entry in entries_of(clients, before, first):
        if s3files.id_digest(str(entry["runSettingId"])) not in kept:
            gone.append(entry)
            if len(gone) > MAX_WITHDRAWN:
                raise BatchError(
                    f"Cohort {first}: this revision removes more than {MAX_WITHDRAWN} samples, whose runs on_delete "
                    "asks to stop one by one. Remove at most that many per deploy, or stop them first with "
                    "`omics-batch cancel`"
                )
    return gone


def record(clients: Clients, layout: CohortLayout, manifest: Manifest, gone: Sequence[Mapping[str, Any]]) -> str:
    """The withdrawn samples' file: each entry's runSettingId, digest, and the batches of the parts
    that were given it (every attempt), where its run is found."""
    digests = {s3files.entry_digest(entry): str(entry["runSettingId"]) for entry in gone}
    parts: dict[int, set[int]] = {}
    for index, uri in enumerate(manifest.part_files):
        for entry in outcome.s3_settings(clients.s3, uri, layout.first_batch_id):
            value = s3files.entry_digest(entry)
            if value in digests:
                parts.setdefault(value, set()).add(index)
    batches = {
        value: sorted({m.batch_id for m in manifest.members if m.part in found}) for value, found in parts.items()
    }
    rows = [
        {"runSettingId": run_setting_id, "digest": f"{value:032x}", "batches": batches.get(value, [])}
        for value, run_setting_id in digests.items()
    ]
    uri, _ = s3files.write_settings(clients.s3, layout.withdrawn, lambda: iter(rows), layout.first_batch_id)
    logger.info("Cohort %s: %d samples removed, their runs to stop: %s", layout.first_batch_id, len(rows), uri)
    return uri


def withdrawn_digests(clients: Clients, uri: str, first: str) -> set[int]:
    return {int(row["digest"], 16) for row in outcome.s3_settings(clients.s3, uri, first)}


def carry_out(clients: Clients, store: ManifestStore, deadline: Callable[[], bool]) -> list[str]:
    """Every pending withdrawal of the cohort one poll further; the samples whose runs are not stopped
    yet (none: done, and recorded so)."""
    manifest = store.find()
    if manifest is None:
        return []
    left: list[str] = []
    finished: set[tuple[int, str]] = set()
    for withdrawal in manifest.withdrawals:
        if withdrawal.done:
            continue
        waiting = [
            str(row["runSettingId"])
            for row in outcome.s3_settings(clients.s3, withdrawal.uri, manifest.first_batch_id)
            if not _stopped(clients, row, withdrawal.policy, deadline)
        ]
        if waiting:
            left.extend(waiting)
        else:
            finished.add((withdrawal.after, withdrawal.uri))
    if finished:

        def mark(current: Manifest | None) -> Manifest:
            base = current or manifest
            withdrawals = tuple(
                dataclasses.replace(w, done=True) if (w.after, w.uri) in finished else w for w in base.withdrawals
            )
            return dataclasses.replace(base, withdrawals=withdrawals)

        store.update(mark)
    return left


def pending(manifest: Manifest) -> bool:
    return any(not w.done for w in manifest.withdrawals)


def _stopped(clients: Clients, row: Mapping[str, Any], policy: str, deadline: Callable[[], bool]) -> bool:
    """Whether the sample's runs, in every batch that holds it, are where ``policy`` wants them, after
    this poll's one step towards it (False as well when the time or the service says: not now)."""
    if deadline():
        return False
    run_setting_id = str(row["runSettingId"])
    try:
        return all(_stopped_in(clients, str(batch_id), run_setting_id, policy) for batch_id in row["batches"])
    except ApiError as err:
        if err.transient or err.code == "ConflictException":
            logger.info("Sample %s: its run is not stopped yet (%s)", run_setting_id, err.code)
            return False
        raise


def _stopped_in(clients: Clients, batch_id: str, run_setting_id: str, policy: str) -> bool:
    omics = clients.omics
    listed = call(omics, "ListRunsInBatch", batch_id, batchId=batch_id, runSettingId=run_setting_id)["runs"]
    if not listed:
        # Not submitted yet (the batch is still submitting), or never (it ended first).
        status = lifecycle.read_batch(omics, batch_id).status
        return status in lifecycle.TERMINAL or status == lifecycle.NOT_FOUND_STATUS
    for item in listed:
        run_id, uuid = item.get("runId"), item.get("runInternalUuid")
        if not run_id:
            continue  # its submission failed: no run
        try:
            run = call(omics, "GetRun", batch_id, id=run_id)
        except ApiError as err:
            if err.code == "ResourceNotFoundException":
                continue  # deleted
            raise
        if uuid and run.get("uuid") != uuid:
            continue  # the id is another run's now: this one was deleted
        status = str(run.get("status"))
        if status in STOPPED[policy]:
            continue
        if status in ACTIVE_RUN:
            call(omics, "CancelRun", batch_id, id=run_id)
            logger.info("Sample %s: run %s of batch %s cancelled", run_setting_id, run_id, batch_id)
            if policy == contract.ON_DELETE_DELETE_RUNS_AND_BATCH:
                return False  # deleted once it has stopped
            continue
        if policy == contract.ON_DELETE_DELETE_RUNS_AND_BATCH and status in lifecycle.ENDED_RUN:
            call(omics, "DeleteRun", batch_id, id=run_id)
            logger.info("Sample %s: run %s of batch %s deleted", run_setting_id, run_id, batch_id)
            continue
        return False  # STOPPING, under DELETE_RUNS_AND_BATCH; or a status this handler does not know
    return True


def record_in(manifest: Manifest, after: int, uri: str, policy: str) -> tuple[Withdrawal, ...]:
    """The manifest's withdrawals with this one (once)."""
    if any((w.after, w.uri) == (after, uri) for w in manifest.withdrawals):
        return manifest.withdrawals
    return (*manifest.withdrawals, Withdrawal(after, uri, policy))
