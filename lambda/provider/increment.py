"""A growing cohort: an update whose runs changed, and nothing they share, starts only what is new.

The samples of the stack are the desired state. A run's identity is its runSettingId, and what
it is, everything that reaches StartRunBatch for it (its settings entry). The cohort remembers
every settings entry it was ever given: its parts (the deploy's, copied into the cohort's folder
by the tracker's first check, and each revision's increment), listed in its manifest. An update
whose runs changed, and nothing else that defines the batch, starts one batch of exactly the
entries the cohort has never been given (new samples, and samples whose settings changed), as
the cohort's next part, started and recorded here, and followed by the cohort's tracking. So
runs that did not change are never submitted again; a rollback, a re-delivered request and a
revert find nothing new to start (their entries were given before); and the resource keeps its
id, so CloudFormation deletes nothing.

Samples the stack no longer has leave the report. Under RETAIN their runs go on; under
CANCEL_RUNS and DELETE_RUNS_AND_BATCH they are stopped (or deleted), one by one, and withdrawn:
added again, they run again (provider/withdraw.py).

Memory: one 128-bit digest per entry the cohort was given (the entries themselves are streamed),
so the diff of two revisions of 1,000,000 runs holds digests, not runs (benchmarks/increment.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from omics_batch_construct_runtime import contract, lifecycle, outcome, s3files
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import BatchError, call
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore, Member

from . import withdraw
from .batch import OnEventResult, attributes
from .properties import BatchProperties, on_delete_policy

logger = logging.getLogger(__name__)

# The properties a revision of a growing cohort may change: its runs, where they are, and the name
# of its first batch, which reaches no run (the batch keeps the name it was started with; the
# cohort's later batches are named after it).
RUN_PROPERTIES = frozenset({contract.PROP_BATCH_RUN_SETTINGS, contract.PROP_SETTINGS_FILES, contract.PROP_BATCH_NAME})


def runs_only(changed: Iterable[str]) -> bool:
    """Whether the batch-defining properties that changed are the runs alone (or the name too)."""
    changed = set(changed)
    return bool(changed) and changed <= RUN_PROPERTIES


class Given:
    """Every settings entry a cohort was given and still has (not withdrawn), as 128-bit digests
    (``s3files.entry_digest``): a few dozen bytes per sample, never the entries."""

    def __init__(self) -> None:
        self._digests: set[int] = set()

    @classmethod
    def of(cls, clients: Clients, manifest: Manifest) -> Given:
        """Its parts in order, each withdrawal applied after the parts it followed."""
        given, first = cls(), manifest.first_batch_id
        for count in range(len(manifest.part_files) + 1):
            if count:
                given.add(outcome.s3_settings(clients.s3, manifest.part_files[count - 1], first))
            for withdrawal in manifest.withdrawals:
                if withdrawal.after == count:
                    given._digests -= withdraw.withdrawn_digests(clients, withdrawal.uri, first)
        return given

    def add(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self._digests.update(s3files.entry_digest(entry) for entry in entries)

    def has(self, entry: Mapping[str, Any]) -> bool:
        return s3files.entry_digest(entry) in self._digests

    def __len__(self) -> int:
        return len(self._digests)


def current_sources(
    clients: Clients, props: BatchProperties, raw: Mapping[str, Any], layout: CohortLayout
) -> tuple[str, ...]:
    """The settings files of the revision the stack has now: its own (assets), or its inline runs
    kept in the cohort's folder."""
    files = raw.get(contract.PROP_SETTINGS_FILES)
    if files:
        return tuple(str(uri) for uri in files)
    inline = list(props.batch_run_settings.get("inlineSettings") or [])
    if inline:
        uri, _ = s3files.write_settings(clients.s3, layout.part, lambda: iter(inline), layout.first_batch_id)
        return (uri,)
    return (str(props.batch_run_settings["s3UriSettings"]),)


def grow(
    clients: Clients, event: Mapping[str, Any], props: BatchProperties, now: float, preflight: Any = None
) -> OnEventResult | None:
    """The revision's increment started (or found), recorded in the cohort's manifest; the result keeps
    the resource's id. None when the cohort cannot grow in place (not tracked: no manifest to
    remember what it was given): the caller starts the new definition's batch instead."""
    raw = event["ResourceProperties"]
    first = str(event["PhysicalResourceId"])
    tracker, report_uri = raw.get(contract.PROP_TRACKER_ARN), raw.get(contract.PROP_REPORT_URI)
    if not (tracker and report_uri and outcome.is_batch_id(first)):
        return None
    layout = CohortLayout(str(report_uri), first)
    store = ManifestStore(clients.s3, layout)
    manifest = store.find()
    if manifest is None or not manifest.part_files:
        raise BatchError(
            f"Cohort {first} has no record of its parts yet (its tracking writes it at its first check, "
            "moments after the deploy): deploy again in a minute"
        )
    given = Given.of(clients, manifest)
    sources = current_sources(clients, props, raw, layout)
    policy = on_delete_policy(raw)
    kept: set[int] = set()  # the samples of this revision, for what it removed (not under RETAIN)

    def new_entries() -> Iterator[dict[str, Any]]:
        for entry in withdraw.entries_of(clients, sources, first):
            if policy != contract.ON_DELETE_RETAIN:
                kept.add(s3files.id_digest(str(entry["runSettingId"])))
            if not given.has(entry):
                yield entry

    # The increment: the cohort's next parts, of at most MAX_RUNS runs each (a file may have been a
    # part before: samples withdrawn, then added again).
    files = s3files.write_settings_files(clients.s3, layout.part, new_entries(), first, contract.MAX_RUNS)
    new = sum(count for _, count in files)
    logger.info("Cohort %s: %d entries given so far; %d new or changed in this revision", first, len(given), new)
    part = len(manifest.part_files)
    increment: Mapping[str, Any] | None = None
    if files:
        # The first part is started here, and waited for; the tracker starts the others in turn.
        check = (lambda: preflight(props, new)) if preflight is not None else None
        increment = _start(clients, props, first, part, files[0], check)
    withdrawn = ""
    if policy != contract.ON_DELETE_RETAIN:
        gone = withdraw.removed(clients, manifest.current or manifest.part_files, kept, first)
        withdrawn = withdraw.record(clients, layout, manifest, gone) if gone else ""

    def record(current: Manifest | None) -> Manifest:
        base = current or manifest
        part_files, batches = base.part_files, base.batches
        if increment is not None:
            if len(part_files) == part:
                part_files = (*part_files, *(uri for uri, _ in files))
            if str(increment["id"]) not in {m.batch_id for m in batches}:
                batches = (*batches, Member(str(increment["id"]), part, 1, now))
        withdrawals = withdraw.record_in(base, len(part_files), withdrawn, policy) if withdrawn else base.withdrawals
        # New runs, or samples the stack no longer has: the cohort is reported again once it is done.
        again = increment is not None or sources != base.current
        return dataclasses.replace(
            base,
            part_files=part_files,
            batches=batches,
            current=sources,
            withdrawals=withdrawals,
            done=base.done and not again,
        )

    recorded = store.update(record)
    first_batch = lifecycle.read_batch(clients.omics, first).batch or {"id": first}
    data = attributes(first_batch)
    if increment is not None:
        data.update({contract.DATA_STARTED_AT: repr(now), contract.DATA_INCREMENT: str(increment["id"])})
    if withdraw.pending(recorded):
        data[contract.DATA_WITHDRAWN] = repr(now)
    return {"PhysicalResourceId": first, "Data": data}


def _start(
    clients: Clients,
    props: BatchProperties,
    first: str,
    part: int,
    file: tuple[str, int],
    preflight: Callable[[], None] | None,
) -> Mapping[str, Any]:
    """The increment's batch: the cohort's next part, named and tagged as the tracker names its own
    (``c<first>-p<part>a1``), found by that before it is started (and before the run quota's
    ``preflight``, for every new run of the revision)."""
    name = contract.cohort_batch_name(first, part, 1)
    existing = lifecycle.tagged_batches(clients.omics, name, contract.COHORT_TAG, first)
    if existing:
        logger.info("Cohort %s: the increment's batch %s is there already", first, existing[-1]["id"])
        return existing[-1]
    if preflight is not None:
        preflight()
    uri, count = file
    started: Mapping[str, Any] = call(
        clients.omics,
        "StartRunBatch",
        first,
        requestId=contract.cohort_request_id(first, part, 1),
        batchName=name,
        defaultRunSetting=props.default_run_setting,
        batchRunSettings={"s3UriSettings": uri},
        tags={**props.tags, contract.COHORT_TAG: first},
    )
    logger.info("Cohort %s: started batch %s of %d new or changed runs (part %d)", first, started["id"], count, part)
    return started
