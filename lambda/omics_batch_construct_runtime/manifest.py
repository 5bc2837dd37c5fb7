"""A cohort's manifest: the one record of its batches, and the fence between its tracker and a destroy.

The manifest (``cohort.json`` in the cohort's folder, see ``omics_batch_construct_runtime.layout``) says which
batches the tracker started (part and attempt), the one it is about to start (``starting``:
written before its StartRunBatch), the cohort's result once reported, and whether the stack has
let the cohort go (``closed``). Only ``ManifestStore`` reads and writes it, always with S3's
conditional writes (``If-None-Match: *`` for a new manifest, ``If-Match: <ETag>`` otherwise), so
that concurrent writers cannot lose each other's changes:

- the tracker records ``starting`` before each StartRunBatch, and is refused once ``closed``;
- a destroy (or the cleanup of a replacing update) sets ``closed``, and so either sees the
  ``starting`` a tracker recorded first (and handles that batch by ``on_delete``) or makes the
  tracker's later record fail (and the tracker starts nothing).

A tracker starts a batch only within ``contract.START_WINDOW_SECONDS`` of its ``starting`` record,
with a call whose worst case is bounded (``omics.MAX_CALL_SECONDS``): a ``starting`` record with
no batch listed under its name after ``Starting.settled_by`` never became a batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.errors import ApiError, call
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.omics import MAX_CALL_SECONDS
from omics_batch_construct_runtime.outcome import split_s3_uri
from omics_batch_construct_runtime.s3files import NO_SUCH_KEY, listed

logger = logging.getLogger(__name__)

# How far two functions' clocks (and Step Functions') may disagree.
CLOCK_SKEW_SECONDS = 60
# A conditional write lost to another writer: read again and retry.
_LOST_RACE = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
MAX_WRITE_TRIES = 8
JSON = "application/json"


class CohortClosed(Exception):
    """The stack has let the cohort go: the tracker starts nothing more."""


@dataclass(frozen=True)
class Starting:
    """The batch a tracker check was about to start when it last wrote the manifest."""

    batch_name: str
    requested_at: float  # epoch seconds, before the StartRunBatch

    @property
    def settled_by(self) -> float:
        """When a batch this record announced is listed by its name, if it was started at all."""
        return (
            self.requested_at
            + contract.START_WINDOW_SECONDS
            + MAX_CALL_SECONDS
            + contract.NOT_VISIBLE_GRACE_SECONDS
            + CLOCK_SKEW_SECONDS
        )

    def to_json(self) -> dict[str, Any]:
        return {"batchName": self.batch_name, "requestedAt": self.requested_at}

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> Starting | None:
        return cls(str(value["batchName"]), float(value["requestedAt"])) if value else None


@dataclass(frozen=True)
class Closed:
    """When and why the stack let the cohort go."""

    at: float
    cause: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "cause": self.cause}

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> Closed | None:
        return cls(float(value.get("at", 0)), str(value.get("cause", ""))) if value else None


@dataclass(frozen=True)
class Member:
    """A batch of the cohort: the first (part 0, attempt 1) or one the tracker started (``started_at``:
    when, in epoch seconds; 0 for the deploy's): a batch that new may not be readable yet."""

    batch_id: str
    part: int
    attempt: int
    started_at: float = 0.0
    settings_uri: str = ""  # a resubmission's own settings file ("": its part's)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"batchId": self.batch_id, "part": self.part, "attempt": self.attempt}
        if self.started_at:
            body["startedAt"] = self.started_at
        if self.settings_uri:
            body["settingsUri"] = self.settings_uri
        return body

    def visible_by(self) -> float:
        """When GetBatch answers for it, if it exists at all (epoch seconds)."""
        return self.started_at + contract.NOT_VISIBLE_GRACE_SECONDS + CLOCK_SKEW_SECONDS


@dataclass(frozen=True)
class Withdrawal:
    """Samples a revision removed from a cohort under ``policy`` (CANCEL_RUNS or
    DELETE_RUNS_AND_BATCH; provider/withdraw.py): their file (each entry's runSettingId, digest and
    the batches that hold it), written once the cohort had ``after`` parts; ``done`` once their runs
    were stopped (or deleted). Once recorded, it is carried out, whatever later revisions say: a
    withdrawn entry is no longer given, and added again, it runs again."""

    after: int
    uri: str
    policy: str
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"after": self.after, "uri": self.uri, "policy": self.policy, "done": self.done}

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> Withdrawal:
        return cls(int(value["after"]), str(value["uri"]), str(value["policy"]), bool(value.get("done")))


@dataclass(frozen=True)
class Manifest:
    """What the manifest holds (see the module's doc)."""

    first_batch_id: str
    batches: tuple[Member, ...] = ()
    parts: int = 1
    done: bool = False
    starting: Starting | None = None
    result: Mapping[str, Any] | None = None
    closed: Closed | None = None
    state_machine_arn: str = ""  # the tracking state machine (the command's ``resume`` starts it)
    # Every part of the cohort, as the settings file its first batch was given (copies in the
    # cohort's folder): the deploy's parts, then each revision's increment. Part n is part_files[n].
    part_files: tuple[str, ...] = ()
    # The samples the stack has now: the settings files of its latest revision (the report covers
    # these; empty: every part's).
    current: tuple[str, ...] = ()
    # Samples removed with their runs stopped, in the order they were (see Withdrawal).
    withdrawals: tuple[Withdrawal, ...] = ()
    # The tracking configuration the cohort was tracked with: an execution of another (the state
    # machine a replacement has changed since) must not act on it.
    config_digest: str = ""

    @property
    def members(self) -> tuple[Member, ...]:
        """The batches in start order; a manifest that names none has the first batch."""
        return self.batches or (Member(self.first_batch_id, 0, 1),)

    @property
    def batch_ids(self) -> list[str]:
        ids = [self.first_batch_id]
        ids.extend(m.batch_id for m in self.batches if m.batch_id not in ids)
        return ids

    def closing(self, at: float, cause: str) -> Manifest:
        return self if self.closed is not None else replace(self, closed=Closed(at, cause))

    def reopened(self) -> Manifest:
        return replace(self, closed=None)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "firstBatchId": self.first_batch_id,
            "batches": [member.to_json() for member in self.batches],
            "parts": self.parts,
            "done": self.done,
        }
        if self.starting is not None:
            body["starting"] = self.starting.to_json()
        if self.result is not None:
            body["result"] = dict(self.result)
        if self.closed is not None:
            body["closed"] = self.closed.to_json()
        if self.state_machine_arn:
            body["stateMachineArn"] = self.state_machine_arn
        if self.config_digest:
            body["configDigest"] = self.config_digest
        if self.part_files:
            body["partFiles"] = list(self.part_files)
        if self.current:
            body["current"] = list(self.current)
        if self.withdrawals:
            body["withdrawals"] = [withdrawal.to_json() for withdrawal in self.withdrawals]
        return body

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> Manifest:
        first = str(value["firstBatchId"])
        return cls(
            first_batch_id=first,
            batches=tuple(
                Member(
                    str(b["batchId"]),
                    int(b.get("part", 0)),
                    int(b.get("attempt", 1)),
                    float(b.get("startedAt", 0)),
                    str(b.get("settingsUri") or ""),
                )
                for b in value.get("batches", [])
            ),
            parts=int(value.get("parts", 1)),
            done=bool(value.get("done")),
            starting=Starting.of(value.get("starting")),
            result=value.get("result"),
            closed=Closed.of(value.get("closed")),
            state_machine_arn=str(value.get("stateMachineArn") or ""),
            config_digest=str(value.get("configDigest") or ""),
            part_files=tuple(str(uri) for uri in value.get("partFiles") or ()),
            current=tuple(str(uri) for uri in value.get("current") or ()),
            withdrawals=tuple(Withdrawal.of(w) for w in value.get("withdrawals") or ()),
        )


@dataclass
class ManifestStore:
    """The one reader and writer of a cohort's manifest (see the module's doc).

    Remembers the ETag of what it last read or wrote, so a writer that owns the latest version
    writes again without reading first.
    """

    s3: Any
    layout: CohortLayout
    _etag: str | None = field(default=None, repr=False)
    _current: Manifest | None = field(default=None, repr=False)

    @property
    def first_batch_id(self) -> str:
        return self.layout.first_batch_id

    def read(self) -> Manifest | None:
        """The manifest, or None when there is none (GetObject only: to a reader that may not list
        the bucket, S3 answers a missing key with AccessDenied, which is raised)."""
        bucket, key = split_s3_uri(self.layout.manifest)
        try:
            answer = call(self.s3, "GetObject", self.first_batch_id, Bucket=bucket, Key=key)
        except ApiError as err:
            if err.code in NO_SUCH_KEY:
                self._etag, self._current = None, None
                return None
            raise
        self._current = Manifest.of(json.loads(answer["Body"].read()))
        self._etag = str(answer.get("ETag") or "") or None
        return self._current

    def find(self) -> Manifest | None:
        """The manifest, read only once a listing shows it there (see ``s3files.listed``): for
        readers that may list the manifests' keys only."""
        return self.read() if listed(self.s3, self.layout.manifest, self.first_batch_id) else None

    def update(self, change: Callable[[Manifest | None], Manifest]) -> Manifest:
        """Write ``change(current)`` over the current manifest (None: there is none), conditionally:
        when another writer got there first, read its version and apply ``change`` to that.

        A first write is tried as a new object (``If-None-Match: *``) unless this store has read
        or written the manifest already, so a writer that may not list the bucket never reads a
        missing key. ``change`` may raise (``CohortClosed``) to write nothing.
        """
        known = self._etag is not None
        for _ in range(MAX_WRITE_TRIES):
            current = self._current if known else None
            wanted = change(current)
            try:
                self._put(wanted, if_match=self._etag if known else None)
            except ApiError as err:
                if err.code in _LOST_RACE or (known and err.code in NO_SUCH_KEY):
                    logger.info(
                        "Cohort %s: the manifest changed meanwhile (%s); reading it again",
                        self.first_batch_id,
                        err.code,
                    )
                    known = self.read() is not None
                    continue
                raise
            return wanted
        raise ApiError(
            "PutObject",
            "ConditionalRequestConflict",
            "the manifest kept changing",
            batch_id=self.first_batch_id,
            http_status=409,
        )

    def _put(self, manifest: Manifest, *, if_match: str | None) -> None:
        bucket, key = split_s3_uri(self.layout.manifest)
        condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
        body = json.dumps(manifest.to_json(), indent=1).encode()
        answer = call(
            self.s3, "PutObject", self.first_batch_id, Bucket=bucket, Key=key, Body=body, ContentType=JSON, **condition
        )
        self._etag = str(answer.get("ETag") or "") or None
        self._current = manifest


def refuse_if_closed(manifest: Manifest | None, config_digest: str = "") -> None:
    """For a tracker about to act on the cohort: the stack has let it go, or it was tracked with
    another configuration than ``config_digest`` (an execution started on a state machine that a
    replacement has changed since)."""
    if manifest is None:
        return
    if manifest.closed is not None:
        raise CohortClosed(
            f"cohort {manifest.first_batch_id} was closed at {manifest.closed.at:.0f} ({manifest.closed.cause})"
        )
    if config_digest and manifest.config_digest and manifest.config_digest != config_digest:
        raise CohortClosed(
            f"cohort {manifest.first_batch_id} is tracked with another configuration ({manifest.config_digest}, "
            f"not this execution's {config_digest}): its state machine was changed by a replacement since"
        )
