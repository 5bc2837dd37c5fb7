"""A cohort's tracking executions: their names, and how the deploy, a destroy, the tracker and the
command find, stop and start them.

One execution at a time follows a cohort. It is named after the cohort's first batch; a fresh
execution that carries on after many checks is numbered; one started again for a cohort whose
tracking stopped (a revert to a definition whose cohort a replacement had let go, a crash, the
command's ``resume``) is a new *lineage*, ``r<k>``, numbered the same way:

    batch-<first>            batch-<first>-1, -2, ...          the deploy's, and its continuations
    batch-<first>-r1         batch-<first>-r1-1, ...           started again once
    batch-<first>-r2 ...

Names are unique per state machine, so a retried start finds the one it started (Step Functions
answers a StartExecution of a running execution's name and input with that execution).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from omics_batch_construct_runtime.errors import ApiError, call
from omics_batch_construct_runtime.lifecycle import ACCESS_DENIED
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore

logger = logging.getLogger(__name__)

_NAME = re.compile(r"batch-(?P<first>[0-9]+)(?:-r(?P<lineage>[0-9]+))?(?:-(?P<continuation>[0-9]+))?")
# What an execution that ended by itself ended as (its cohort was reported); ABORTED and
# TIMED_OUT ones were stopped from outside.
ENDED_BY_ITSELF = frozenset({"SUCCEEDED", "FAILED"})


def execution_name(first_batch_id: str, continuation: int = 0, lineage: int = 0) -> str:
    name = f"batch-{first_batch_id}"
    if lineage:
        name += f"-r{lineage}"
    return f"{name}-{continuation}" if continuation else name


@dataclass(frozen=True)
class Lineage:
    """What an execution's name says: its cohort, its lineage and its place in it."""

    first_batch_id: str
    lineage: int = 0
    continuation: int = 0

    @classmethod
    def of(cls, name: str) -> Lineage | None:
        match = _NAME.fullmatch(name)
        if match is None:
            return None
        return cls(match["first"], int(match["lineage"] or 0), int(match["continuation"] or 0))

    def next(self) -> str:
        """The name of the execution that carries this one on."""
        return execution_name(self.first_batch_id, self.continuation + 1, self.lineage)


def executions(
    sfn: Any, state_machine_arn: str, first_batch_id: str, status: str | None = None
) -> list[dict[str, Any]]:
    """The cohort's executions (every lineage and continuation) of ``status`` (None: any), all pages."""
    params: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": 100}
    if status is not None:
        params["statusFilter"] = status
    found: list[dict[str, Any]] = []
    while True:
        page = call(sfn, "ListExecutions", first_batch_id, **params)
        for execution in page.get("executions", []):
            lineage = Lineage.of(str(execution.get("name", "")))
            if lineage is not None and lineage.first_batch_id == first_batch_id:
                found.append(execution)
        if not page.get("nextToken"):
            return found
        params["nextToken"] = page["nextToken"]


def running(sfn: Any, state_machine_arn: str, first_batch_id: str) -> list[str]:
    """The ARNs of the cohort's running executions."""
    return [e["executionArn"] for e in executions(sfn, state_machine_arn, first_batch_id, "RUNNING")]


def stop(sfn: Any, state_machine_arn: str, first_batch_id: str, cause: str) -> list[str]:
    """Stop the cohort's running executions; the ones stopped now."""
    stopped = []
    for arn in running(sfn, state_machine_arn, first_batch_id):
        try:
            call(sfn, "StopExecution", first_batch_id, executionArn=arn, cause=cause)
        except ApiError as err:
            if err.code != "ExecutionDoesNotExist":
                raise
            continue
        stopped.append(arn)
        logger.info("Cohort %s: stopped %s", first_batch_id, arn)
    return stopped


@dataclass(frozen=True)
class Tracked:
    """What ``ensure`` found or did: ``running`` (an execution follows the cohort), ``done`` (its
    tracking ended by itself), or ``started`` (an execution named ``name``); ``pending``: try again
    shortly. ``reopened``: the cohort's manifest was closed, and is open again."""

    state: str
    name: str = ""
    reopened: bool = False

    @property
    def settled(self) -> bool:
        return self.state != "pending"


@dataclass(frozen=True)
class Plan:
    """What ``ensure`` will do: ``start`` the execution ``name`` (else the cohort is ``running`` or
    ``done``), reopening the manifest first when ``reopen``."""

    state: str
    name: str = ""
    reopen: bool = False
    manifest: Manifest | None = None


def plan(sfn: Any, state_machine_arn: str, first_batch_id: str, *, store: ManifestStore | None) -> Plan:
    """What the cohort's tracking needs (see ``ensure``), without doing it."""
    manifest, readable = _manifest(store)
    if manifest is not None and manifest.done:
        return Plan("done", manifest=manifest)
    reopen = manifest is not None and manifest.closed is not None and store is not None
    listed = executions(sfn, state_machine_arn, first_batch_id)
    live = [e for e in listed if e.get("status") == "RUNNING"]
    if live:
        return Plan("running", str(live[0].get("name", "")), reopen, manifest)
    if manifest is None and not readable and listed:
        latest = max(listed, key=lambda e: e.get("startDate") or 0)
        if latest.get("status") in ENDED_BY_ITSELF:
            return Plan("done")
    if not listed:
        return Plan("start", execution_name(first_batch_id), reopen, manifest)
    lineages = [Lineage.of(str(e.get("name", ""))) for e in listed]
    lineage = 1 + max(x.lineage for x in lineages if x is not None)
    return Plan("start", execution_name(first_batch_id, lineage=lineage), reopen, manifest)


def ensure(sfn: Any, state_machine_arn: str, first_batch_id: str, *, store: ManifestStore | None) -> Tracked:
    """Make sure the cohort is followed: an execution runs, or its tracking has ended by itself.

    Never assumed from an execution that merely exists. The manifest decides first: a cohort it
    says is done is left alone; one the stack had let go (closed: a replacement, a destroy) is
    reopened, also while an execution of it still runs (a continuation started after the stop),
    which would otherwise end at its next check. Then a cohort with no running execution gets
    one: ``batch-<first>`` if the state machine never had one, else a new lineage. When the
    manifest cannot be read (``store`` None, or access denied), a latest execution that ended by
    itself, not stopped, counts as done. The deploy and the command's ``resume`` both come here.
    """
    chosen = plan(sfn, state_machine_arn, first_batch_id, store=store)
    if chosen.reopen and store is not None and chosen.manifest is not None:
        closed = chosen.manifest
        store.update(lambda current: (current or closed).reopened())
        logger.info("Cohort %s: manifest reopened (closed: %s)", first_batch_id, closed.closed)
    if chosen.state != "start":
        return Tracked(chosen.state, chosen.name, chosen.reopen)
    started = _start(sfn, state_machine_arn, first_batch_id, chosen.name)
    return Tracked(started.state, started.name, chosen.reopen)


def _manifest(store: ManifestStore | None) -> tuple[Manifest | None, bool]:
    """The cohort's manifest and whether it could be read at all."""
    if store is None:
        return None, False
    try:
        return store.find(), True
    except ApiError as err:
        if err.code not in ACCESS_DENIED | {"NoSuchBucket"}:
            raise
        logger.warning("Cohort %s: its manifest cannot be read (%s)", store.first_batch_id, err.code)
        return None, False


def _start(sfn: Any, state_machine_arn: str, first_batch_id: str, name: str) -> Tracked:
    try:
        call(
            sfn,
            "StartExecution",
            first_batch_id,
            stateMachineArn=state_machine_arn,
            name=name,
            input=json.dumps({"batchId": first_batch_id}),
        )
    except ApiError as err:
        if err.code == "ExecutionAlreadyExists" or err.transient:
            # Started by a concurrent caller, or listed too late to be seen: look again next time.
            logger.warning("Cohort %s: tracking execution %s not started now (%s)", first_batch_id, name, err.code)
            return Tracked("pending", name)
        raise
    logger.info("Cohort %s: started tracking execution %s", first_batch_id, name)
    return Tracked("started", name)
