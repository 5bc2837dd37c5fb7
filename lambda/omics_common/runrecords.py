"""What each run of a cohort cost and why it failed: one record a run, kept in S3 as runs end.

The insight function (``lambda/insight``) writes them as HealthOmics' "Run Status Change" events
arrive, and the report writes those of the runs no event brought (events are best effort), under
the cohort's folder (``omics_common.layout``):

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
from decimal import Decimal
from typing import Any

from . import runcost
from .clients import Client
from .errors import ApiError, call
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
NO_MANIFEST = "no run manifest in /aws/omics/WorkflowLog"


def record_of(run: Mapping[str, Any], manifest: RunManifest | None, cost: RunCost | None) -> dict[str, str]:
    """A run's record from GetRun's answer (or what stands for it) and its manifest's cost."""
    notes = []
    if manifest is None:
        notes.append(NO_MANIFEST)
    if cost is not None and cost.missing:
        notes.append("no list price for " + ", ".join(cost.missing))
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
    """Every record of ``batch_id``'s runs, object by object."""
    bucket, prefix = split_s3_uri(layout.insight(batch_id))
    token: str | None = None
    while True:
        page = call(
            s3,
            "ListObjectsV2",
            batch_id,
            Bucket=bucket,
            Prefix=prefix,
            **({"ContinuationToken": token} if token else {}),
        )
        for item in page.get("Contents", []):
            body = call(s3, "GetObject", batch_id, Bucket=bucket, Key=item["Key"])["Body"]
            try:
                for line in body.iter_lines():
                    if line.strip():
                        yield json.loads(line)
            finally:
                body.close()
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


# What the report keeps of a record: its columns, and the ending it may lack (``tracker.insight``).
KEPT = (*REPORT_COLUMNS, "status", "startTime", "stopTime")


def by_run(s3: Client, layout: CohortLayout, batch_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """The records of these batches' runs, by run uuid (the run id when a record has none), each
    with the ``KEPT`` fields only: a part's 100,000 records are held at once."""
    found: dict[str, dict[str, str]] = {}
    for batch_id in batch_ids:
        for record in read(s3, layout, batch_id):
            kept = {key: str(record.get(key) or "") for key in KEPT}
            found[run_key(record.get("runUuid", ""), record.get("runId", ""))] = kept
    return found


def run_key(run_uuid: str, run_id: str) -> str:
    """How records are found: by uuid (unique), by id only when the uuid is unknown."""
    return run_uuid or f"id:{run_id}"


# --- prices -------------------------------------------------------------------------------


def price_book(clients_pricing: Client, s3: Client, layout: CohortLayout, region: str) -> PriceBook:
    """The cohort's prices: those read before (``prices.json``), the Price List API for the rest."""
    bucket, key = split_s3_uri(layout.prices)
    try:
        known = json.loads(call(s3, "GetObject", Bucket=bucket, Key=key)["Body"].read())
    except ApiError as err:
        if err.code not in ("NoSuchKey", "404", "NotFound"):
            raise
        known = {}
    return PriceBook(clients_pricing, region, known.get("prices") if isinstance(known, dict) else None)


def keep_prices(s3: Client, layout: CohortLayout, book: PriceBook, region: str, before: Mapping[str, str]) -> None:
    """Write ``prices.json`` when the book learned a price it did not have."""
    now = book.to_json()
    if now == dict(before):
        return
    bucket, key = split_s3_uri(layout.prices)
    body = json.dumps({"region": region, "source": "AWS Price List API, AmazonOmics", "prices": now}, indent=1)
    call(s3, "PutObject", Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")


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
        elif row.get("runStatus") in ("COMPLETED", "FAILED", "CANCELLED"):
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
