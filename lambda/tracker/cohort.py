"""``check``: follow every batch of the cohort, and start the batches the cohort still needs.

A cohort is the batch the deploy started (part 0, attempt 1), the later parts of a cohort of
more than 100,000 runs (one settings file each), and the resubmissions: when a batch ends,
the runs the retry policy resubmits go into a new batch of the same part, one attempt later,
with their original settings. One batch of the cohort submits at a time: a start waits while
any batch of the cohort is CREATING, PENDING or SUBMITTING, so the account's StartRun
throughput is not contended.

Each check reads every unsettled batch (GetBatch), then does one thing: it starts the first
queued batch if none of the cohort is submitting, or else settles one batch that ended (lists
its runs, keeps them as a rows file, queues its resubmission). Never both: a check retried by
Step Functions has the same input, and since a batch that stopped submitting never submits
again, it starts the same queued batch. Rows files and content-addressed settings files are
written again identically.

A batch is started at most once: a check first looks for it by its name (its cohort, part and
attempt) and tag, and adopts the batch it finds (a retried check, a tracker started again with a
fresh state, HealthOmics having forgotten the requestId); only then does it record the start in
the manifest (``starting``, a conditional write that the stack's close refuses, see
``omics_batch_construct_runtime.manifest``) and call StartRunBatch, idempotent by the same cohort, part and
attempt. A check refused by a closed manifest starts nothing and ends the execution
(``released``). The state (a few dozen small records) travels in the execution; the runs stay
in S3.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from omics_batch_construct_runtime import contract, lifecycle, metrics, outcome, s3files
from omics_batch_construct_runtime.clients import Client, Clients
from omics_batch_construct_runtime.errors import ApiError, call
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import (
    CohortClosed,
    Manifest,
    ManifestStore,
    Member,
    Starting,
    refuse_if_closed,
)
from omics_batch_construct_runtime.outcome import Resubmission, RunRow

from . import files
from .errors import BadEvent, BatchNotFound, Throttled
from .settle import Listing
from .status import get_batch

logger = logging.getLogger(__name__)

# Checks one execution makes before a fresh one carries on (a cycle is at most 13 history
# events, so an execution stays below 6,600 of Standard's 25,000; see benchmarks/tracking.py).
CHECKS_PER_EXECUTION = 500


@dataclass(frozen=True)
class Part:
    """Where a part's original settings are: a settings file, or inline (part 0, up to 100 runs)."""

    settings_uri: str | None = None
    settings: list[dict[str, Any]] | None = None

    def entries(self, s3: Client, batch_id: str) -> Iterator[dict[str, Any]]:
        """The part's checked settings entries, streamed."""
        if self.settings is not None:
            return outcome.settings_entries(self.settings, "the inline run settings")
        if self.settings_uri is None:
            raise outcome.SettingsError("no run settings were given")
        return outcome.s3_settings(s3, self.settings_uri, batch_id)


@dataclass(frozen=True)
class Config:
    """What the construct put in the state machine's definition: the cohort's fixed facts."""

    first_batch_id: str
    parts: list[Part]
    resubmission: Resubmission
    start: dict[str, Any]  # StartRunBatch's defaultRunSetting, tags and batchName, for new batches
    report_uri: str
    topic_arn: str | None
    state_machine_arn: str = ""  # the execution's own ($$.StateMachine.Id), recorded in the manifest
    digest: str = ""  # of the runs the state machine's configuration holds (see manifest.config_digest)
    current: tuple[str, ...] = ()  # the samples the stack has now (manifest.current; empty: every part's)
    insight: bool = False  # an insight function records the runs (lambda/insight): the report prices them

    def with_manifest(self, manifest: Manifest | None) -> Config:
        """The cohort as its manifest holds it, every revision's part included (the configuration in
        the state machine's definition holds the deploy's only, and a running execution keeps the
        definition it started with)."""
        if manifest is None or not manifest.part_files:
            return self
        parts = [Part(settings_uri=uri) for uri in manifest.part_files]
        return dataclasses.replace(self, parts=parts, current=manifest.current)

    @property
    def layout(self) -> CohortLayout:
        return CohortLayout(self.report_uri, self.first_batch_id)

    @property
    def prefix(self) -> str:
        return self.layout.prefix

    @property
    def default_output(self) -> str:
        return str(self.start.get("defaultRunSetting", {}).get("outputUri") or "")

    @classmethod
    def from_event(cls, event: Mapping[str, Any], first_batch_id: str) -> Config:
        config = event.get("config")
        if not isinstance(config, Mapping):
            raise BadEvent(f"batch {first_batch_id}: the event has no config")
        report_uri = config.get("reportUri")
        if not isinstance(report_uri, str) or not report_uri.startswith("s3://") or report_uri[5:6] in ("", "/"):
            raise BadEvent(f"batch {first_batch_id}: reportUri must be an s3:// prefix, not {report_uri!r}")
        parts = [_part(part, first_batch_id) for part in config.get("parts") or []]
        if not parts:
            raise BadEvent(f"batch {first_batch_id}: the config has no parts")
        return cls(
            first_batch_id=first_batch_id,
            parts=parts,
            resubmission=Resubmission.from_json(config.get("resubmission")),
            start=_json_or_value(config.get("start") or {}, "start", first_batch_id),
            report_uri=report_uri if report_uri.endswith("/") else report_uri + "/",
            topic_arn=config.get("topicArn") or None,
            state_machine_arn=str(event.get("stateMachineArn") or ""),
            digest=_definition_digest(config),
            insight=bool(config.get("insight")),
        )


def _definition_digest(config: Mapping[str, Any]) -> str:
    """What the configuration says every run of the cohort shares (the default run setting): the runs
    themselves change with each revision of a growing cohort, and the retry policy, the topic or
    the tags may change under a running cohort; a default run setting of its own is another
    definition's (a replacement's)."""
    start = _json_or_value(config.get("start") or {}, "start", "")
    shared = start.get("defaultRunSetting") if isinstance(start, Mapping) else start
    return hashlib.sha256(json.dumps(shared, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _part(value: Any, batch_id: str) -> Part:
    if not isinstance(value, Mapping):
        raise BadEvent(f"batch {batch_id}: a part must be an object, not {value!r}")
    inline = value.get("settings")
    if inline is not None:
        inline = _json_or_value(inline, "settings", batch_id)
        if not isinstance(inline, list):
            raise BadEvent(f"batch {batch_id}: settings must be a list of run settings")
    return Part(settings_uri=value.get("settingsUri") or None, settings=inline)


def _json_or_value(value: Any, name: str, batch_id: str) -> Any:
    """The construct sends token-free values as JSON text, which keeps null members, big integers
    and floats exactly as the API has them; values holding tokens come as JSON values."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise BadEvent(f"batch {batch_id}: {name} is not valid JSON: {err.msg}") from err


@dataclass
class Batch:
    """One batch of the cohort, as the state keeps it."""

    batchId: str
    part: int
    attempt: int
    status: str = ""
    settled: bool = False  # its runs are listed, kept and (if the policy says) resubmitted
    # As last read, for the report if the batch is deleted before the cohort ends.
    totalRuns: int = 0
    failureReason: str = ""
    startedAt: float = 0.0  # when this tracker started it (epoch seconds); 0 for the deploy's batch
    settingsUri: str = ""  # the settings file a resubmission was started with ("": its part's)
    # Its runs by state, from GetBatch's summaries as last read (the cohort's metrics sum them).
    counts: dict[str, int] = field(default_factory=dict)

    def observe(self, answer: Mapping[str, Any]) -> None:
        """Keep what GetBatch said of the batch."""
        self.status = str(answer.get("status", ""))
        self.totalRuns = int(answer.get("totalRuns") or 0)
        self.failureReason = str(answer.get("failureReason") or "")
        self.counts = metrics.batch_counts(answer)


@dataclass
class Start:
    """A batch the cohort needs and has not started: a part, or a resubmission of a part."""

    part: int
    attempt: int
    settingsUri: str
    runs: int = 0


@dataclass
class State:
    """The cohort's state between checks (small: it travels in the execution)."""

    batches: list[Batch]
    queue: list[Start] = field(default_factory=list)
    nextPart: int = 1
    checks: int = 0
    continuation: int = 0

    @classmethod
    def of(cls, value: Any, first_batch_id: str) -> State:
        if not value:
            return cls(batches=[Batch(first_batch_id, part=0, attempt=1)])
        return cls(
            batches=[Batch(**batch) for batch in value["batches"]],
            queue=[Start(**start) for start in value.get("queue", [])],
            nextPart=int(value.get("nextPart", 1)),
            checks=int(value.get("checks", 0)),
            continuation=int(value.get("continuation", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def submitting(self) -> bool:
        """Whether a batch of the cohort may still be submitting runs (a status unknown to this
        release counts as submitting: nothing starts beside it)."""
        return any(batch.status not in lifecycle.PAST_SUBMITTING for batch in self.batches)

    def ended(self) -> list[Batch]:
        return [batch for batch in self.batches if not batch.settled and batch.status in lifecycle.TERMINAL]

    def done(self, parts: int) -> bool:
        started = {batch.part for batch in self.batches if batch.attempt == 1}
        return all(batch.settled for batch in self.batches) and not self.queue and started >= set(range(parts))


def check(
    clients: Clients, config: Config, state: State, deadline: Callable[[], bool] = lambda: False
) -> dict[str, Any]:
    """One step of the cohort: read, then start one needed batch or settle (a share of) one ended
    batch, until ``deadline`` (settling 100,000 runs may take several checks; see settle.py)."""
    started = settled = None
    store = ManifestStore(clients.s3, config.layout)
    try:
        recorded = _recorded(store, state)
        if state.checks > 0:  # written by the first check: a close since then ends this execution
            refuse_if_closed(recorded, config.digest)  # first: a destroy may have deleted the batches
        config = config.with_manifest(recorded)
        _merge(state, recorded)
        for batch in state.batches:
            if not batch.settled:
                read(clients.omics, batch)
        _queue_next_part(config, state)
        if state.queue and not state.submitting():
            started = start(clients, store, config, state, state.queue[0])
            state.queue.pop(0)
        elif ended := state.ended():
            settled = settle(clients, config, state, ended[0], deadline)
        # The first check writes the manifest (the command finds the cohort by it from the start) with the
        # cohort's parts (a revision's deploy reads them); a first check that started a batch wrote it
        # already, without them: the next check that starts none records them.
        unrecorded = recorded is None or not recorded.part_files
        if started is None and (state.checks == 0 or unrecorded):
            part_files = _materialized(clients, config, recorded)
            write_manifest(store, config, state, fresh=state.checks == 0, part_files=part_files)
    except CohortClosed as closed:
        logger.info("Cohort %s: %s; this execution ends", config.first_batch_id, closed)
        return {"cohort": state.to_json(), "done": False, "again": False, "continue": False, "released": True}
    state.checks += 1
    done = state.done(len(config.parts))
    logger.info(
        "Cohort %s: %s; queued %d, started %s, settled %s, done %s",
        config.first_batch_id,
        ", ".join(f"{b.batchId} p{b.part}a{b.attempt} {b.status}" for b in state.batches),
        len(state.queue),
        started,
        settled,
        done,
    )
    # The cohort's counts as gauges (a retried check repeats them); a settled batch's from its last read.
    metrics.publish(config.first_batch_id, metrics.cohort_counts(b.counts for b in state.batches))
    # More to do at once: a batch just started to read, an ended batch to settle (or to go on
    # settling), or a start.
    more = started is not None or bool(state.ended()) or bool(state.queue and not state.submitting())
    return {
        "cohort": state.to_json(),
        "done": done,
        "again": not done and more,
        "continue": not done and state.checks >= CHECKS_PER_EXECUTION * (state.continuation + 1),
        "released": False,
    }


def _recorded(store: ManifestStore, state: State) -> Manifest | None:
    """The cohort's manifest, if written yet (before the first check's write, the tracker, which may
    not list the bucket, is told AccessDenied for a key that is not there)."""
    try:
        return store.read()
    except ApiError as err:
        if state.checks > 0 or err.code not in lifecycle.ACCESS_DENIED:
            raise
        return None


def _merge(state: State, manifest: Manifest | None) -> None:
    """Batches the manifest has and the state not: a revision's increment the deploy started, or
    (an execution started again with a fresh state) those the cohort's earlier executions did."""
    if manifest is None:
        return
    known = {batch.batchId for batch in state.batches}
    for member in manifest.batches:
        if member.batch_id not in known:
            state.batches.append(
                Batch(
                    member.batch_id,
                    member.part,
                    member.attempt,
                    startedAt=member.started_at,
                    settingsUri=member.settings_uri,
                )
            )
            logger.info(
                "Cohort: batch %s (part %d, attempt %d) joins from the manifest",
                member.batch_id,
                member.part,
                member.attempt,
            )


def _materialized(clients: Clients, config: Config, recorded: Manifest | None) -> tuple[str, ...]:
    """The cohort's parts as copies in its folder, made once (the first check): a later revision's
    deploy, and the report, read every part from there, whatever revision's assets are gone."""
    if recorded is not None and recorded.part_files:
        return recorded.part_files
    copies = []
    for index, part in enumerate(config.parts):
        if part.settings_uri is not None:
            source_bucket, source_key = outcome.split_s3_uri(part.settings_uri)
            digest = hashlib.sha256(part.settings_uri.encode()).hexdigest()[:16]
            target = config.layout.part(digest)
            bucket, key = outcome.split_s3_uri(target)
            call(
                clients.s3,
                "CopyObject",
                config.first_batch_id,
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": source_bucket, "Key": source_key},
                ContentType=files.JSON,
                MetadataDirective="REPLACE",
            )
            copies.append(target)
        else:
            inline: list[dict[str, Any]] = list(part.settings or [])
            uri, _ = s3files.write_settings(
                clients.s3, config.layout.part, functools.partial(iter, inline), config.first_batch_id
            )
            copies.append(uri)
        logger.info("Cohort %s: part %d kept as %s", config.first_batch_id, index, copies[-1])
    return tuple(copies)


def read(omics: Client, batch: Batch) -> None:
    """GetBatch of an unsettled batch. One this tracker just started may not be readable yet
    (eventual consistency): it stays unread, and so "submitting", for up to the grace."""
    try:
        batch.observe(get_batch(omics, batch.batchId))
    except BatchNotFound:
        waited = time.time() - batch.startedAt
        if batch.status or not batch.startedAt or waited > contract.NOT_VISIBLE_GRACE_SECONDS:
            raise
        logger.warning("Batch %s, started %d s ago, is not readable yet", batch.batchId, int(waited))


def _queue_next_part(config: Config, state: State) -> None:
    """Queue the next part whose first batch is not started (a deploy's later part; a revision's
    increment is started by its deploy) once every earlier part's first batch has submitted all its
    runs (its status is known and not a submitting one: a status this release does not know is
    "not yet")."""
    firsts = {b.part: b for b in state.batches if b.attempt == 1}
    for index in range(len(config.parts)):
        if index in firsts:
            continue
        if any(start.part == index and start.attempt == 1 for start in state.queue):
            return
        if any(
            firsts.get(earlier) is None or firsts[earlier].status not in lifecycle.PAST_SUBMITTING
            for earlier in range(index)
        ):
            return  # an earlier part not started yet (queued behind a resubmission), or still submitting
        part = config.parts[index]
        if part.settings_uri is None:
            raise BadEvent(f"part {index} of cohort {config.first_batch_id} has no settings file")
        state.queue.append(Start(part=index, attempt=1, settingsUri=part.settings_uri))
        state.nextPart = max(state.nextPart, index + 1)
        return


# --- settling an ended batch ------------------------------------------------------------------


def rows_uri(config: Config, batch_id: str) -> str:
    return config.layout.rows(batch_id)


def settle(clients: Clients, config: Config, state: State, batch: Batch, deadline: Callable[[], bool]) -> str | None:
    """Keep the ended batch's runs, and queue the resubmission the policy asks for (if any); None
    while its listing goes on (the next check resumes it).

    A batch that FAILED with a failure the user guide calls transient, before it submitted all it
    was given, has the settings it never listed resubmitted too (``Resubmission.resubmits_unsubmitted``):
    they are its runs, as much as the ones it listed."""
    rows = Listing(clients, config.layout, batch.batchId).rows(deadline)
    if rows is None:
        return None
    answer = get_batch(clients.omics, batch.batchId) if batch.status == outcome.SUCCEEDED_STATUS else {}
    rows = outcome.infer_removed(rows, answer)
    files.write_json_lines(clients.s3, rows_uri(config, batch.batchId), (row._asdict() for row in rows), batch.batchId)
    ids = {row.runSettingId for row in rows if config.resubmission.resubmits(row, batch.attempt)}
    try:
        if config.resubmission.resubmits_unsubmitted(batch.status, batch.failureReason, batch.attempt):
            listed = {row.runSettingId for row in rows}
            unlisted = [e["runSettingId"] for e in given(clients, config, batch) if e["runSettingId"] not in listed]
            logger.info(
                "Batch %s FAILED (%s): %d settings it never listed go again",
                batch.batchId,
                batch.failureReason,
                len(unlisted),
            )
            ids.update(unlisted)
        if ids:
            wanted = _current(clients, config, ids)
            uri, count = write_settings(
                clients.s3, config, lambda: _chosen(given(clients, config, batch), ids, wanted), batch.batchId
            )
            if count:
                state.queue.append(Start(part=batch.part, attempt=batch.attempt + 1, settingsUri=uri, runs=count))
                logger.info("Batch %s: %d runs resubmitted as attempt %d", batch.batchId, count, batch.attempt + 1)
    except outcome.SettingsError as err:
        # The file the batch was given cannot be read (gone, access lost, not the format): nothing to
        # resubmit from. Said here and in the report (settingsError), never retried forever.
        logger.warning("Batch %s: its runs are not resubmitted: %s", batch.batchId, err)
    batch.settled = True
    return batch.batchId


def _chosen(entries: Iterable[dict[str, Any]], ids: set[str], wanted: set[int] | None) -> Iterator[dict[str, Any]]:
    return (
        entry
        for entry in entries
        if entry["runSettingId"] in ids and (wanted is None or s3files.entry_digest(entry) in wanted)
    )


def _current(clients: Clients, config: Config, ids: set[str]) -> set[int] | None:
    """Of the entries with these ids, the ones the stack has now, as digests (None: a cohort that never
    grew has all it was given). A sample removed since, or changed (its new settings run in a part of
    their own), is not resubmitted."""
    if not config.current:
        return None
    return {
        s3files.entry_digest(entry)
        for uri in config.current
        for entry in outcome.s3_settings(clients.s3, uri, config.first_batch_id)
        if entry["runSettingId"] in ids
    }


def given(clients: Clients, config: Config, batch: Batch) -> Iterator[dict[str, Any]]:
    """The settings a batch of the cohort was started with: its part's, or (a resubmission) its own file."""
    if batch.settingsUri:
        return outcome.s3_settings(clients.s3, batch.settingsUri, batch.batchId)
    return config.parts[batch.part].entries(clients.s3, batch.batchId)


def write_settings(
    s3: Client, config: Config, entries: Callable[[], Iterator[dict[str, Any]]], batch_id: str
) -> tuple[str, int]:
    """A resubmission's settings file and its number of entries (``s3files.write_settings``)."""
    return s3files.write_settings(s3, config.layout.resubmit, entries, batch_id)


# --- starting a batch -------------------------------------------------------------------------


def start(clients: Clients, store: ManifestStore, config: Config, state: State, needed: Start) -> str:
    """The part's attempt as a batch: the one already started (found by its name and tag), else a
    StartRunBatch recorded in the manifest first; raises CohortClosed when the stack let go."""
    first = config.first_batch_id
    known = next((b for b in state.batches if (b.part, b.attempt) == (needed.part, needed.attempt)), None)
    if known is not None:  # started already (by a deploy, or an earlier execution): in the state
        return known.batchId
    name = contract.cohort_batch_name(first, needed.part, needed.attempt)
    existing = lifecycle.tagged_batches(clients.omics, name, contract.COHORT_TAG, first)
    if existing:
        batch_id = str(existing[-1]["id"])  # the oldest, if ever there were two
        logger.info(
            "Cohort %s: batch %s (part %d, attempt %d) is there already", first, batch_id, needed.part, needed.attempt
        )
        state.batches.append(
            Batch(batch_id, needed.part, needed.attempt, startedAt=time.time(), settingsUri=_own(needed))
        )
        write_manifest(store, config, state)
        return batch_id
    template = config.start
    params: dict[str, Any] = {
        "requestId": contract.cohort_request_id(first, needed.part, needed.attempt),
        "batchName": name,
        "defaultRunSetting": template["defaultRunSetting"],
        "batchRunSettings": {"s3UriSettings": needed.settingsUri},
        "tags": {**(template.get("tags") or {}), contract.COHORT_TAG: first},
    }
    # Recorded first, conditionally: a close after this finds the batch by its name; a close before
    # it refuses the record, and nothing starts.
    starting = Starting(name, time.time())
    write_manifest(store, config, state, starting=starting)
    if time.time() > starting.requested_at + contract.START_WINDOW_SECONDS:
        # A destroy counts on a recorded start happening soon after it, or never: record it again.
        raise Throttled(f"cohort {first}: recording the start of {name} took too long; trying again")
    started = call(clients.omics, "StartRunBatch", first, **params)
    batch_id = str(started["id"])
    state.batches.append(Batch(batch_id, needed.part, needed.attempt, startedAt=time.time(), settingsUri=_own(needed)))
    logger.info("Cohort %s: started batch %s (part %d, attempt %d)", first, batch_id, needed.part, needed.attempt)
    write_manifest(store, config, state)
    return batch_id


def _own(needed: Start) -> str:
    """The settings file a started batch is known by, when it is not its part's (a resubmission)."""
    return needed.settingsUri if needed.attempt > 1 else ""


def write_manifest(
    store: ManifestStore,
    config: Config,
    state: State,
    *,
    starting: Starting | None = None,
    result: Mapping[str, Any] | None = None,
    fresh: bool = False,
    part_files: tuple[str, ...] = (),
) -> Manifest:
    """The cohort's batches, for the command and for a destroy that must reach them all: the ones
    started, the one ``starting`` (about to be: refused once the stack closed the manifest), and
    once done, the cohort's ``result`` (its status, whether it succeeded, its counts). ``fresh``: the
    first check of an execution, which a closed manifest ends too."""

    def change(current: Manifest | None) -> Manifest:
        if starting is not None or fresh:
            refuse_if_closed(current, config.digest)  # a start, or a fresh execution's first check
        # A batch once recorded stays recorded: a tracker started again begins with the first batch
        # only, and finds the others as it goes.
        members = list(current.batches) if current is not None else []
        known = {m.batch_id for m in members}
        members.extend(
            Member(b.batchId, b.part, b.attempt, b.startedAt, b.settingsUri)
            for b in state.batches
            if b.batchId not in known
        )
        return Manifest(
            first_batch_id=config.first_batch_id,
            batches=tuple(members),
            parts=max(len(config.parts), len(current.part_files) if current else 0),
            done=result is not None,
            starting=starting or _pending_start(current, members),
            result=result,
            closed=current.closed if current is not None else None,
            state_machine_arn=config.state_machine_arn or (current.state_machine_arn if current else ""),
            config_digest=(current.config_digest if current else "") or config.digest,
            # The deploy's records: the parts of every revision, and the samples the stack has now.
            part_files=(current.part_files if current else ()) or part_files,
            current=current.current if current else (),
            withdrawals=current.withdrawals if current else (),
        )

    return store.update(change)


def _pending_start(current: Manifest | None, members: list[Member]) -> Starting | None:
    """A start recorded earlier whose batch is not recorded yet (its check may have died after its
    StartRunBatch), kept until it is, or until it can no longer have happened."""
    recorded = current.starting if current is not None else None
    if recorded is None or time.time() > recorded.settled_by:
        return None
    names = {contract.cohort_batch_name(current.first_batch_id, m.part, m.attempt) for m in members}  # type: ignore[union-attr]
    return None if recorded.batch_name in names else recorded


# --- the cohort's rows --------------------------------------------------------------------------


def part_rows(s3: Client, config: Config, state: State, part: int) -> list[tuple[RunRow, Batch]]:
    """Each run setting of a part with its last attempt, in the first attempt's listing order.

    The part's first batch gives the order; each later attempt's row replaces the earlier one
    of the same runSettingId. One part (at most 100,000 rows) is held at a time.
    """
    attempts = sorted((b for b in state.batches if b.part == part), key=lambda b: b.attempt)
    return outcome.last_attempts((batch, read_rows(s3, config, batch.batchId)) for batch in attempts)


def read_rows(s3: Client, config: Config, batch_id: str) -> Iterable[RunRow]:
    return (RunRow(**row) for row in files.read_json_lines(s3, rows_uri(config, batch_id), batch_id))
