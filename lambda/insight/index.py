"""Entry point of the run insight function: a queue's batch of "Run Status Change" events.

HealthOmics says when a run ends (COMPLETED, FAILED, CANCELLED) on the default event bus, with no
batch id: an EventBridge rule sends every ended run of the account to this construct's queue, and
this function keeps the runs of its own cohorts. For each run:

1. GetRun: its uuid, batch, failure reason and times, read while the run still exists (retention
   mode REMOVE may drop it later);
2. its batch's cohort: the batch's tag (``contract.COHORT_TAG``, or ``DEFINITION_TAG`` on a cohort's
   first batch), and only if that cohort's manifest is under this construct's report prefix;
3. its manifest log (``/aws/omics/WorkflowLog``, ``manifest/run/<id>/<uuid>``), written just after
   the run ends: a message whose manifest is not there yet goes back to the queue, and after
   ``MANIFEST_WAIT_RECEIVES`` deliveries the run is recorded without a cost, saying why;
4. its cost from the cohort's prices (``prices.json``, the Price List API for what it lacks).

The records of one invocation are written one object per batch. A message whose call was
throttled or failed goes back to the queue alone (``batchItemFailures``); after the queue's
``maxReceiveCount`` it moves to the dead-letter queue, and the report looks that run up itself.

Once written, each priced run's cost goes to the cohort's ``RunCostUsd`` metric (one embedded
metric format line a cohort, ``omics_batch_construct_runtime.metrics``): its Sum is what the runs that ended cost,
as they end; the report's total is the cohort's.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from omics_batch_construct_runtime import contract, lifecycle, metrics, runcost, runrecords
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import NOT_FOUND, ApiError, call
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import ManifestStore
from omics_batch_construct_runtime.runcost import PriceBook

logger = logging.getLogger(__name__)
logging.getLogger().setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

# Deliveries of a message before its run is recorded without a manifest: the queue gives a
# message back after its visibility timeout (contract.INSIGHT_VISIBILITY_SECONDS), so about an hour.
MANIFEST_WAIT_RECEIVES = 3
# How long a cohort's batch may be without the cohort's manifest (its tracking writes it at its
# first check, moments after the deploy) before its runs count as another construct's.
YOUNG_BATCH_SECONDS = 3600
# What an invocation keeps back from its timeout to write what it did and answer.
WORK_MARGIN_SECONDS = 30

_clients: Clients | None = None


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point (an SQS event source with ReportBatchItemFailures): the messages left when
    the invocation nears its timeout go back to the queue, and what was done is written."""
    global _clients
    if _clients is None:
        _clients = Clients()
    seconds = context.get_remaining_time_in_millis() / 1000 - WORK_MARGIN_SECONDS
    deadline = lifecycle.time_budget(max(seconds, 0.0))
    report_uri, region = os.environ[contract.ENV_REPORT_URI], os.environ["AWS_REGION"]
    return capture(event.get("Records", []), _clients, report_uri, region, deadline)


@dataclass
class _Cohorts:
    """Which cohort of this construct a batch belongs to (None: not one of them), kept while the
    function's container lives; and each cohort's prices."""

    clients: Clients
    report_uri: str
    region: str
    of_batch: dict[str, str | None] = field(default_factory=dict)  # the cohort a batch's tags name
    created: dict[str, float] = field(default_factory=dict)  # when each batch was created (epoch seconds)
    ours: set[str] = field(default_factory=set)  # cohorts whose manifest is under report_uri
    prices: dict[str, runrecords.CohortPrices] = field(default_factory=dict)

    def first_batch(self, batch_id: str) -> str | None:
        if batch_id not in self.of_batch:
            try:
                batch = call(self.clients.omics, "GetBatch", batch_id, batchId=batch_id)
            except ApiError as err:
                if err.code != NOT_FOUND:
                    raise
                batch = {}  # deleted (DeleteBatch): if it was a cohort's, the report looks its runs up
            tags = batch.get("tags") or {}
            self.of_batch[batch_id] = tags.get(contract.COHORT_TAG) or (
                batch_id if contract.DEFINITION_TAG in tags else None
            )
            created = batch.get("creationTime")
            self.created[batch_id] = created.timestamp() if hasattr(created, "timestamp") else 0.0
        first = self.of_batch[batch_id]
        if first is None or first in self.ours:
            return first
        if ManifestStore(self.clients.s3, self.layout(first)).find() is None:
            if time.time() - self.created[batch_id] < YOUNG_BATCH_SECONDS:
                raise _Later(f"cohort {first} has no manifest yet (its tracking writes it at its first check)")
            return None  # another construct's cohort: asked again next time, in case
        self.ours.add(first)
        return first

    def layout(self, first: str) -> CohortLayout:
        return CohortLayout(self.report_uri, first)

    def book(self, first: str) -> PriceBook:
        if first not in self.prices:
            self.prices[first] = runrecords.CohortPrices(self.clients, self.layout(first), self.region)
        return self.prices[first].book()

    def keep_prices(self) -> None:
        for prices in self.prices.values():
            prices.keep()


_cohorts: _Cohorts | None = None


class _Later(Exception):
    """This message goes back to the queue: its run is not ready to record."""


def capture(
    messages: Iterable[Mapping[str, Any]],
    clients: Clients,
    report_uri: str,
    region: str,
    deadline: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Record the ended runs of this construct's cohorts; the messages to deliver again (those that
    failed, alone, and those ``deadline`` left no time for)."""
    global _cohorts
    if _cohorts is None or _cohorts.clients is not clients or _cohorts.report_uri != report_uri:
        _cohorts = _Cohorts(clients, report_uri, region)
    cohorts = _cohorts
    again: list[str] = []
    groups: dict[tuple[str, str], tuple[list[dict[str, str]], list[str]]] = {}
    for message in messages:
        message_id = str(message.get("messageId", ""))
        if deadline():
            again.append(message_id)
            continue
        try:
            found = _record(message, cohorts)
        except _Later as why:
            logger.info("Run of message %s: %s; trying again later", message_id, why)
            again.append(message_id)
            continue
        except ApiError as err:
            (logger.warning if err.transient else logger.error)("Message %s: %s", message_id, err)
            again.append(message_id)
            continue
        except Exception:  # a bug or an unreadable answer: this message alone goes back, and says why
            logger.exception("Message %s could not be recorded", message_id)
            again.append(message_id)
            continue
        if found is not None:
            first, record = found
            records, ids = groups.setdefault((first, record["batchId"]), ([], []))
            records.append(record)
            ids.append(message_id)
    costs: dict[str, list[Decimal]] = {}
    for (first, batch_id), (records, ids) in groups.items():
        try:
            uri = runrecords.write(clients.s3, cohorts.layout(first), batch_id, records)
        except ApiError as err:
            logger.warning("Cohort %s: %d run records not written: %s", first, len(records), err)
            again.extend(ids)
        else:
            logger.info("Cohort %s batch %s: %d runs recorded in %s", first, batch_id, len(records), uri)
            costs.setdefault(first, []).extend(Decimal(r["costUsd"]) for r in records if r.get("costUsd"))
    for first, values in costs.items():
        metrics.publish(first, {metrics.RUN_COST_USD: values})
    try:
        cohorts.keep_prices()
    except ApiError as err:  # read again next time
        logger.warning("Prices not kept: %s", err)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in again]}


def _record(message: Mapping[str, Any], cohorts: _Cohorts) -> tuple[str, dict[str, str]] | None:
    """The run's cohort and record; None when it is not a run of this construct's cohorts."""
    event = json.loads(str(message.get("body") or "{}"))
    detail = event.get("detail") or {}
    run_id = run_id_of(event)
    if not run_id or str(detail.get("status") or "") not in lifecycle.ENDED_RUN:
        return None
    try:
        run = call(cohorts.clients.omics, "GetRun", None, id=run_id)
    except ApiError as err:
        if err.code != NOT_FOUND:
            raise
        logger.info("Run %s is gone already (deleted, or dropped by retention mode REMOVE)", run_id)
        return None
    if (detail.get("uuid") and detail["uuid"] != run.get("uuid")) or run.get("status") not in lifecycle.ENDED_RUN:
        logger.info("Run %s: GetRun answers for another run now (the event's run was deleted)", run_id)
        return None
    batch_id = str(run.get("batchId") or "")
    first = cohorts.first_batch(batch_id) if batch_id else None
    if first is None:
        return None
    try:
        manifest = runcost.read_manifest(cohorts.clients.logs, run_id, str(run.get("uuid") or ""))
    except ValueError as err:  # not the manifest format: recorded without a cost, saying why
        return first, runrecords.record_of(run, None, None, unreadable=str(err))
    if manifest is None:
        receives = int((message.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        if receives < MANIFEST_WAIT_RECEIVES:
            raise _Later(f"run {run_id} has no manifest yet (delivery {receives})")
        return first, runrecords.record_of(run, None, None)
    cost = runcost.run_cost(manifest, cohorts.book(first))
    return first, runrecords.record_of(run, manifest, cost)


def run_id_of(event: Mapping[str, Any]) -> str:
    """The run's id: the event's ``runId`` where it has one, else its run ARN's last part."""
    detail = event.get("detail") or {}
    if detail.get("runId"):
        return str(detail["runId"])
    arns = [str(detail.get("arn") or ""), *(str(r) for r in event.get("resources") or [])]
    for arn in arns:
        if ":run/" in arn:
            return arn.rsplit("/", 1)[-1]
    return ""
