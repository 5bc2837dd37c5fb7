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

Samples the stack no longer has are left to the cohort's own runs: they are not in the report.

Memory: one digest per sample the cohort was given (the entries themselves are streamed), so the
diff of two revisions of 1,000,000 runs holds the ids and 8-byte digests, not the runs
(benchmarks/increment.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from omics_common import contract, lifecycle, outcome, s3files
from omics_common.clients import Clients
from omics_common.errors import BatchError, call
from omics_common.layout import CohortLayout
from omics_common.manifest import Manifest, ManifestStore, Member

from .batch import OnEventResult, attributes
from .properties import BatchProperties

logger = logging.getLogger(__name__)

# The properties a revision of a growing cohort may change: its runs, and where they are.
RUN_PROPERTIES = frozenset({contract.PROP_BATCH_RUN_SETTINGS, contract.PROP_SETTINGS_FILES})


def runs_only(changed: Iterable[str]) -> bool:
    """Whether the batch-defining properties that changed are the runs alone."""
    changed = set(changed)
    return bool(changed) and changed <= RUN_PROPERTIES


def digest(entry: Mapping[str, Any]) -> bytes:
    """What a settings entry is, in 8 bytes: its canonical JSON's hash (the same entry inline in the
    template or in a settings file has the same digest)."""
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=8).digest()


class Given:
    """Every settings entry a cohort was given, by runSettingId: its digests (one, or a few)."""

    def __init__(self) -> None:
        self._seen: dict[str, bytes | tuple[bytes, ...]] = {}

    def add(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for entry in entries:
            run_setting_id, value = str(entry["runSettingId"]), digest(entry)
            known = self._seen.get(run_setting_id)
            if known is None:
                self._seen[run_setting_id] = value
            elif isinstance(known, bytes):
                if known != value:
                    self._seen[run_setting_id] = (known, value)
            elif value not in known:
                self._seen[run_setting_id] = (*known, value)

    def has(self, entry: Mapping[str, Any]) -> bool:
        known = self._seen.get(str(entry["runSettingId"]))
        value = digest(entry)
        return known == value if isinstance(known, bytes) else known is not None and value in known

    def __len__(self) -> int:
        return len(self._seen)


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


def entries_of(clients: Clients, sources: Iterable[str], batch_id: str) -> Iterator[dict[str, Any]]:
    for uri in sources:
        yield from outcome.s3_settings(clients.s3, uri, batch_id)


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
    given = Given()
    for uri in manifest.part_files:
        given.add(outcome.s3_settings(clients.s3, uri, first))
    sources = current_sources(clients, props, raw, layout)
    uri, count = s3files.write_settings(
        clients.s3,
        layout.part,
        lambda: (entry for entry in entries_of(clients, sources, first) if not given.has(entry)),
        first,
    )
    logger.info("Cohort %s: %d samples given so far; %d new or changed in this revision", first, len(given), count)
    increment: Mapping[str, Any] | None = None
    member: Member | None = None
    if count:
        part = manifest.part_files.index(uri) if uri in manifest.part_files else len(manifest.part_files)
        increment = _start(clients, props, first, part, uri, count, preflight)
        member = Member(str(increment["id"]), part, 1, now)

    def record(current: Manifest | None) -> Manifest:
        base = current or manifest
        part_files = base.part_files if not uri or uri in base.part_files else (*base.part_files, uri)
        batches = base.batches
        if member is not None and member.batch_id not in {m.batch_id for m in batches}:
            batches = (*batches, member)
        # New runs, or samples the stack no longer has: the cohort is reported again once it is done.
        again = member is not None or sources != base.current
        return dataclasses.replace(
            base, part_files=part_files, batches=batches, current=sources, done=base.done and not again
        )

    store.update(record)
    first_batch = lifecycle.read_batch(clients.omics, first).batch or {"id": first}
    data = attributes(first_batch)
    if increment is not None:
        data.update({contract.DATA_STARTED_AT: repr(now), contract.DATA_INCREMENT: str(increment["id"])})
    return {"PhysicalResourceId": first, "Data": data}


def _start(
    clients: Clients, props: BatchProperties, first: str, part: int, uri: str, count: int, preflight: Any
) -> Mapping[str, Any]:
    """The increment's batch: the cohort's next part, named and tagged as the tracker names its own
    (``c<first>-p<part>a1``), found by that before it is started."""
    name = contract.cohort_batch_name(first, part, 1)
    existing = lifecycle.tagged_batches(clients.omics, name, contract.COHORT_TAG, first)
    if existing:
        logger.info("Cohort %s: the increment's batch %s is there already", first, existing[-1]["id"])
        return existing[-1]
    if preflight is not None:
        preflight(props, count)
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
