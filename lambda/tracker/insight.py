"""The report's insight columns: each run's cost, failure reason and failed task.

The insight function recorded most runs as they ended (``omics_batch_construct_runtime.runrecords``). A run it
did not record (its event was lost, or went to the dead-letter queue) is looked up here: GetRun
while the run exists (retention mode REMOVE may have dropped it: then the row's own uuid and
times stand in), and its manifest log, which outlives the run. At most ``MAX_LOOKUPS`` runs a
report, so that a report never spends its invocation on lookups; the records it makes are
written like the function's, so a report tried again does not look them up twice. The rest keep
empty columns, and the completion event counts them (``cost.runsWithoutCost``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from omics_batch_construct_runtime import lifecycle, runcost, runrecords
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import NOT_FOUND, ApiError, call
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.outcome import RunRow

logger = logging.getLogger(__name__)

MAX_LOOKUPS = 1000  # runs without a record looked up by one report (GetRun and a manifest log each)

COLUMNS = runrecords.REPORT_COLUMNS


def columns(record: dict[str, str] | None) -> dict[str, str]:
    """The report's insight columns of a row: its record's, or empty."""
    return {column: (record or {}).get(column, "") for column in COLUMNS}


def completed(row: RunRow, record: dict[str, str] | None) -> RunRow:
    """The row, with its run's ending from its record where the settle could not read it (the run
    was dropped from GetRun and ListRuns before the batch ended: retention mode REMOVE)."""
    if row.runStatus or record is None or record.get("status") not in lifecycle.ENDED_RUN:
        return row
    return row._replace(runStatus=record["status"], startTime=record["startTime"], stopTime=record["stopTime"])


class Insight:
    """The records of a cohort's runs, part by part, and the lookups of those missing; none for a
    cohort deployed without an insight function (``enabled``: its tracker may not read them)."""

    def __init__(self, clients: Clients, layout: CohortLayout, *, enabled: bool) -> None:
        self.clients, self.layout, self.enabled = clients, layout, enabled
        self.lookups = 0
        self.prices = runrecords.CohortPrices(clients, layout, str(clients.omics.meta.region_name))

    def part(self, batch_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """The records of these batches' runs (one part's attempts), by ``runrecords.run_key``."""
        if not self.enabled:
            return {}
        return runrecords.by_run(self.clients.s3, self.layout, batch_ids)

    def record(
        self, row: RunRow, batch_id: str, records: dict[str, dict[str, str]], new: list[dict[str, str]]
    ) -> dict[str, str] | None:
        """The record of a row of ``batch_id``: the one written when its run ended, else a lookup
        (kept in ``new``), else None."""
        key = runrecords.run_key(row.runUuid, row.runId)
        record = records.get(key)
        # No record, or one written before the run's manifest was there: look again.
        unpriced = record is None or record.get("note") == runrecords.NO_MANIFEST
        wanted = self.enabled and row.runId and row.runStatus in lifecycle.ENDED_RUN
        if unpriced and wanted and self.lookups < MAX_LOOKUPS:
            self.lookups += 1
            found = self._look_up(row, batch_id)
            if found is not None:
                record = records[key] = found
                if found["note"] != runrecords.NO_MANIFEST:  # kept; not one that may be priced later
                    new.append(found)
        return record

    def _look_up(self, row: RunRow, batch_id: str) -> dict[str, str] | None:
        run: Mapping[str, Any]
        try:
            run = call(self.clients.omics, "GetRun", batch_id, id=row.runId)
            if row.runUuid and run.get("uuid") != row.runUuid:
                raise ApiError("GetRun", NOT_FOUND, "the run id is another run's now")
        except ApiError as err:
            if err.code != NOT_FOUND:
                logger.warning("Run %s not looked up: %s", row.runId, err)
                return None
            # Dropped (retention mode REMOVE) or deleted: its manifest is still there, by its uuid.
            run = {"id": row.runId, "uuid": row.runUuid, "status": row.runStatus}
            run = {**run, "startTime": row.startTime, "stopTime": row.stopTime, "batchId": batch_id}
        if not run.get("uuid"):
            return None
        run = {**run, "batchId": batch_id}
        try:
            manifest = runcost.read_manifest(self.clients.logs, row.runId, str(run["uuid"]))
            cost = runcost.run_cost(manifest, self.prices.book()) if manifest is not None else None
        except ApiError as err:
            logger.warning("Run %s: manifest not read: %s", row.runId, err)
            return None
        except ValueError as err:  # not the manifest format
            logger.warning("Run %s: manifest unreadable: %s", row.runId, err)
            return runrecords.record_of(run, None, None, unreadable=str(err))
        return runrecords.record_of(run, manifest, cost)

    def keep(self, new: list[dict[str, str]]) -> None:
        """Write the records this report made, by batch, and the prices it learned."""
        by_batch: dict[str, list[dict[str, str]]] = {}
        for record in new:
            by_batch.setdefault(record["batchId"], []).append(record)
        for batch_id, records in by_batch.items():
            runrecords.write(self.clients.s3, self.layout, batch_id, records)
        self.prices.keep()
