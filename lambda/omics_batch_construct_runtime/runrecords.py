"""What each run of a cohort cost and why it failed: one record a run, kept in S3 as runs end.

The insight function (``lambda/insight``) writes them as HealthOmics' "Run Status Change" events
arrive, and the report writes those of the runs no event brought (events are best effort), under
the cohort's folder (``omics_batch_construct_runtime.layout``):

    runs/<batch id>/<content hash>.jsonl    one JSON object a line, the keys ``FIELDS``

Every value is a string, empty when unknown, as in the report. A message delivered twice makes
the same object again (its name is its content's hash), or a second object with the same runs:
``by_run`` keeps one record a run uuid. The run's metadata may be gone from GetRun by the time
its cohort reports (retention mode REMOVE): the record, written when it ended, is not.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from . import lifecycle, runcost, s3files
from .clients import Client, Clients
from .errors import call
from .layout import CohortLayout
from .outcome import split_s3_uri
from .runcost import PriceBook, RunCost, RunManifest

logger = logging.getLogger(__name__)

FIELDS = (
    "runId",
    "runUuid",
    "batchId",
    "status",
    "startTime",
    "stopTime",
    "failureReason",
    "failedTask",
    "computeCostUsd",
    "storageCostUsd",
    "costUsd",
    "storageType",
    "note",  # why a cost is missing: no manifest, no price
)
# What the report takes of a record, as columns of its own.
REPORT_COLUMNS = ("costUsd", "computeCostUsd", "storageCostUsd", "failureReason", "failedTask")
MAX_FAILURE_GROUPS = 20  # the completion event's failure digest
READ_THREADS = 16  # objects read at once (boto3's clients may be shared by threads)
NO_MANIFEST = "no run manifest in /aws/omics/WorkflowLog"


def record_of(
    run: Mapping[str, Any], manifest: RunManifest | None, cost: RunCost | None, *, unreadable: str = ""
) -> dict[str, str]:
    """A run's record from GetRun's answer (or what stands for it) and its manifest's cost;
    ``unreadable``: why the manifest there is could not be read."""
    notes = []
    if unreadable:
        notes.append(f"run manifest unreadable: {unreadable}")
    elif manifest is None:
        notes.append(NO_MANIFEST)
    if cost is not None and cost.missing:
        notes.append("no list price for " + ", ".join(cost.missing))
    if manifest is not None and manifest.storage_type == runcost.DYNAMIC and manifest.storage_average_gib is None:
        notes.append("no average storage (a DYNAMIC run under two hours): storage priced 0")
    record = {
        "runId": str(run.get("id") or ""),
        "runUuid": str(run.get("uuid") or ""),
        "batchId": str(run.get("batchId") or ""),
        "status": str(run.get("status") or ""),
        "startTime": _time(run.get("startTime")),
        "stopTime": _time(run.get("stopTime")),
        "failureReason": str(run.get("failureReason") or ""),
        "failedTask": manifest.failed_task if manifest is not None else "",
        "computeCostUsd": runcost.usd(cost.compute) if cost else "",
        "storageCostUsd": runcost.usd(cost.storage) if cost else "",
        "costUsd": runcost.usd(cost.total) if cost else "",
        "storageType": manifest.storage_type if manifest is not None else str(run.get("storageType") or ""),
        "note": "; ".join(notes),
    }
    return record


def _time(value: Any) -> str:
    if value is None or value == "":
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def write(s3: Client, layout: CohortLayout, batch_id: str, records: Iterable[Mapping[str, str]]) -> str | None:
    """One object of ``records`` (of runs of ``batch_id``), named by its content; its URI (None: no records)."""
    lines = sorted(json.dumps({key: record.get(key, "") for key in FIELDS}, sort_keys=True) for record in records)
    if not lines:
        return None
    body = ("\n".join(lines) + "\n").encode()
    uri = layout.insight(batch_id) + hashlib.sha256(body).hexdigest()[:32] + ".jsonl"
    bucket, key = split_s3_uri(uri)
    call(s3, "PutObject", batch_id, Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    return uri


def read(s3: Client, layout: CohortLayout, batch_id: str) -> Iterator[dict[str, str]]:
    """Every record of ``batch_id``'s runs, a listed page of objects at a time, ``READ_THREADS`` objects
    read at once: runs that end one by one make an object each, and 100,000 reads one after the
    other would outlast an invocation."""
    bucket, prefix = split_s3_uri(layout.insight(batch_id))

    def records(key: str) -> list[dict[str, str]]:
        body = call(s3, "GetObject", batch_id, Bucket=bucket, Key=key)["Body"]
        try:
            return [json.loads(line) for line in body.iter_lines() if line.strip()]
        finally:
            body.close()

    token: str | None = None
    with ThreadPoolExecutor(READ_THREADS) as pool:
        while True:
            more = {"ContinuationToken": token} if token else {}
            page = call(s3, "ListObjectsV2", batch_id, Bucket=bucket, Prefix=prefix, **more)
            for found in pool.map(records, [item["Key"] for item in page.get("Contents", [])]):
                yield from found
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return


# What the report keeps of a record: its columns, the ending it may lack, and why it has no cost.
KEPT = (*REPORT_COLUMNS, "status", "startTime", "stopTime", "note")


def by_run(s3: Client, layout: CohortLayout, batch_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """The records of these batches' runs, by run uuid (the run id when a record has none), each
    with the ``KEPT`` fields only: a part's 100,000 records are held at once."""
    found: dict[str, dict[str, str]] = {}
    for batch_id in batch_ids:
        for record in read(s3, layout, batch_id):
            kept = {key: str(record.get(key) or "") for key in KEPT}
            key = run_key(record.get("runUuid", ""), record.get("runId", ""))
            if key not in found or not found[key]["costUsd"]:  # a priced record wins over one without
                found[key] = kept
    return found


def run_key(run_uuid: str, run_id: str) -> str:
    """How records are found: by uuid (unique), by id only when the uuid is unknown."""
    return run_uuid or f"id:{run_id}"


# --- prices -------------------------------------------------------------------------------


class CohortPrices:
    """A cohort's prices: those read before (``prices.json``, read at the first use), the Price
    List API for the rest; ``keep`` writes the file back once the book learned a price."""

    def __init__(self, clients: Clients, layout: CohortLayout, region: str) -> None:
        self.clients, self.layout, self.region = clients, layout, region
        self._book: PriceBook | None = None
        self._kept: dict[str, str] = {}

    def book(self) -> PriceBook:
        if self._book is None:
            known: Any = {}
            s3 = self.clients.s3
            if s3files.listed(s3, self.layout.prices):  # a reader that may list this key only
                bucket, key = split_s3_uri(self.layout.prices)
                known = json.loads(call(s3, "GetObject", Bucket=bucket, Key=key)["Body"].read())
            prices = known.get("prices") if isinstance(known, dict) else None
            self._book = PriceBook(self.clients.pricing, self.region, prices)
            self._kept = self._book.to_json()
        return self._book

    def keep(self) -> None:
        """Write ``prices.json`` when the book learned a price the file did not have."""
        now = self._book.to_json() if self._book is not None else self._kept
        if now == self._kept:
            return
        bucket, key = split_s3_uri(self.layout.prices)
        body = json.dumps({"region": self.region, "source": "AWS Price List API, AmazonOmics", "prices": now}, indent=1)
        call(self.clients.s3, "PutObject", Bucket=bucket, Key=key, Body=body.encode(), ContentType=s3files.JSON)
        self._kept = now


# --- the cohort's digest -----------------------------------------------------------------


class Digest:
    """Cost totals and failure groups over the rows of the report (each run's latest attempt)."""

    def __init__(self) -> None:
        self.compute = Decimal(0)
        self.storage = Decimal(0)
        self.priced = 0
        self.unpriced = 0
        self.failures: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], list[str]] = {}

    def add(self, row: Mapping[str, str]) -> None:
        if row.get("costUsd"):
            self.compute += Decimal(row["computeCostUsd"])
            self.storage += Decimal(row["storageCostUsd"])
            self.priced += 1
        elif row.get("runStatus") in lifecycle.ENDED_RUN:
            self.unpriced += 1
        reason = ""
        if row.get("runStatus") == "FAILED":
            reason = row.get("failureReason") or "(no reason given)"
        elif row.get("submissionStatus") == "FAILED":
            reason = row.get("submissionFailureReason") or "(submission failed)"
        if reason:
            group = (reason, row.get("failedTask", ""))
            self.failures[group] += 1
            examples = self.examples.setdefault(group, [])
            if len(examples) < 3:
                examples.append(row.get("runSettingId", ""))

    def cost(self) -> dict[str, Any]:
        """The completion event's ``cost``: USD numbers (4 decimals), and how many runs have none."""
        return {
            "totalUsd": float(round(self.compute + self.storage, 4)),
            "computeUsd": float(round(self.compute, 4)),
            "storageUsd": float(round(self.storage, 4)),
            "runsPriced": self.priced,
            "runsWithoutCost": self.unpriced,
        }

    def failure_groups(self, limit: int = MAX_FAILURE_GROUPS) -> list[dict[str, Any]]:
        """The completion event's ``failures``: the largest groups first, with a few runs of each."""
        ranked = sorted(self.failures.items(), key=lambda item: (-item[1], item[0]))
        return [
            {"reason": reason, "task": task, "runs": count, "examples": self.examples[(reason, task)]}
            for (reason, task), count in ranked[:limit]
        ]
