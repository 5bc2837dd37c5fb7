"""What one HealthOmics run cost, estimated from its run manifest and the AWS Price List.

HealthOmics writes a run manifest to CloudWatch Logs (log group ``/aws/omics/WorkflowLog``, stream
``manifest/run/<runId>/<runUuid>``) just after a run ends, failed or not: one JSON record for the
run, then one for each task (user guide, "Monitoring HealthOmics with CloudWatch Logs"). This module
reads it (``read_manifest``, ``parse_manifest``), prices the resources it names with the Price List
Query API (``PriceBook``) and adds them up (``run_cost``), by the formulas of the two public tools
that do this, awslabs/aws-healthomics-tools' run analyzer and the HealthOmics MCP server:

- compute: each task's instance type at its hourly price, for its running time, at least a
  minute (tasks under a minute are billed a minute);
- run storage: STATIC, the hourly "Run Storage" price of the allocated GiB (1,200, or the
  capacity rounded up to a multiple of 2,400) for the run's hours; DYNAMIC, the hourly "Dynamic
  Run Storage" price of the run's average storage (``storageAverageGiB``) for its hours.

It is an estimate, and says so:

- list prices as the Price List gives them today, in USD: no discounts, savings plans, credits,
  free tier or private pricing;
- the run's compute and run storage only: no S3, CloudWatch Logs, ECR, data transfer or
  Ready2Run (per-run) charges;
- storage prices are per GB-hour and are multiplied by GiB x hours with no GiB/GB conversion, as
  both tools do; whether billing converts is not documented;
- STATIC capacity above 2,400 GiB: the user guide rounds "to the nearest multiple of 1200 GiB"
  where that size is available, the tools always to a multiple of 2,400; the tools' rule is used,
  so 3,600 GiB may be billed as 3,600 where this says 4,800;
- DYNAMIC storage by its average, which HealthOmics does not report for runs under two hours
  (their storage is then 0 here); which figure billing uses is not documented;
- tasks served from a run cache are priced like the others if the manifest gives them an instance
  type and a running time; whether they bill compute is not documented.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from omics_batch_construct_runtime.clients import Client
from omics_batch_construct_runtime.errors import NOT_FOUND, ApiError, call

# --- the run manifest ---------------------------------------------------------------------

WORKFLOW_LOG_GROUP = "/aws/omics/WorkflowLog"
STATIC, DYNAMIC = "STATIC", "DYNAMIC"  # omics StorageType values
TASK_FAILED = "FAILED"  # an omics TaskStatus value
MINIMUM_BILLED_SECONDS = 60.0  # a task under a minute is billed a minute (tools' PR #62)


def manifest_stream(run_id: str, run_uuid: str) -> str:
    """The log stream of a run's manifest: ``manifest/run/<runId>/<runUuid>`` (user guide table
    "Log stream format"). The uuid tells apart runs that reused a deleted run's id."""
    return f"manifest/run/{run_id}/{run_uuid}"


@dataclass(frozen=True)
class Task:
    """One task record of a manifest. ``instance_type`` is "" when the record has none;
    ``running_seconds`` is the record's ``metrics.runningSeconds``, else stop - start, else 0."""

    name: str
    status: str
    instance_type: str
    start: datetime.datetime | None
    stop: datetime.datetime | None
    running_seconds: float

    @property
    def billed_seconds(self) -> float:
        """The seconds its instance is billed: its running time, at least a minute; 0 for a task
        without an instance type or one that never started (no start time, no running time)."""
        if not self.instance_type or (self.start is None and self.running_seconds <= 0):
            return 0.0
        return max(MINIMUM_BILLED_SECONDS, self.running_seconds)


@dataclass(frozen=True)
class RunManifest:
    """A run's manifest: its run record's storage and times, and its tasks in creation order."""

    run_id: str
    storage_type: str  # STATIC when the record has none (the tools' assumption)
    storage_capacity: int | None
    start: datetime.datetime | None
    stop: datetime.datetime | None
    storage_average_gib: float | None
    tasks: tuple[Task, ...]

    @property
    def failed_task(self) -> str:
        """The name of the first task (in the manifest's creation/start order) whose status is
        FAILED; "" if none did: a run can fail before any task or after all of them (user guide)."""
        return next((task.name for task in self.tasks if task.status == TASK_FAILED), "")

    @property
    def instance_seconds(self) -> dict[str, float]:
        """Billed seconds by instance type, each task at least a minute (``Task.billed_seconds``)."""
        by_type: dict[str, list[float]] = {}
        for task in self.tasks:
            seconds = task.billed_seconds
            if seconds > 0:
                by_type.setdefault(task.instance_type, []).append(seconds)
        return {instance_type: math.fsum(seconds) for instance_type, seconds in by_type.items()}

    @property
    def run_seconds(self) -> float:
        """The run's stop - start in seconds; 0 if either is missing."""
        if self.start is None or self.stop is None:
            return 0.0
        return max(0.0, (self.stop - self.start).total_seconds())


def parse_manifest(messages: Iterable[str], run_id: str) -> RunManifest:
    """The manifest of run ``run_id`` from its log events' messages, one JSON record each.

    A record's kind is in its ``arn``: ``...:run/<id>`` or ``...:task/<taskId>``, as the run
    analyzer reads it; records of any other kind are skipped. Tasks are sorted by
    ``creationTime`` (else ``startTime``; those with neither last). Times are ISO 8601 UTC
    (``2026-04-01T08:00:00.123Z``); a missing or unreadable field is None (or 0 seconds).
    Raises ValueError for a message that is not a JSON object, or when there is no record of
    run ``run_id``.
    """
    run: dict[str, Any] | None = None
    tasks: list[tuple[bool, float, int, Task]] = []  # (no time, time, order read, task)
    for number, message in enumerate(messages, start=1):
        try:
            record = json.loads(message)
        except ValueError as err:
            raise ValueError(f"manifest of run {run_id}: record {number} is not JSON: {err}") from err
        if not isinstance(record, dict):
            raise ValueError(f"manifest of run {run_id}: record {number} is not a JSON object")
        kind, resource_id = _arn_resource(record.get("arn"))
        if kind == "run" and resource_id == run_id and run is None:
            run = record
        elif kind == "task":
            created = _time(record.get("creationTime"))
            task = _task(record)
            when = created or task.start
            tasks.append((when is None, when.timestamp() if when else 0.0, len(tasks), task))
    if run is None:
        raise ValueError(f"manifest of run {run_id} has no run record (no record with arn ...:run/{run_id})")
    tasks.sort(key=lambda entry: entry[:3])
    metrics = _object(run.get("metrics"))
    capacity = _number(run.get("storageCapacity"))
    return RunManifest(
        run_id=run_id,
        storage_type=str(run.get("storageType") or STATIC),
        storage_capacity=None if capacity is None else int(capacity),
        start=_time(run.get("startTime")),
        stop=_time(run.get("stopTime")),
        storage_average_gib=_number(metrics.get("storageAverageGiB")),
        tasks=tuple(entry[3] for entry in tasks),
    )


def read_manifest(logs: Client, run_id: str, run_uuid: str) -> RunManifest | None:
    """The manifest of run ``run_id`` (uuid ``run_uuid``) read from CloudWatch Logs, or None when it
    is not there yet: HealthOmics writes it just after the run ends.

    Pages GetLogEvents from the head of the stream until ``nextForwardToken`` comes back unchanged
    (the API's end of stream). A missing group or stream (ResourceNotFoundException) or a stream
    with no events yet is None; other failures raise ApiError (``transient`` for throttling and
    5xx, which botocore has retried already), and a manifest without its run record ValueError.
    """
    messages: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {
            "logGroupName": WORKFLOW_LOG_GROUP,
            "logStreamName": manifest_stream(run_id, run_uuid),
            "startFromHead": True,
        }
        if token is not None:
            params["nextToken"] = token
        try:
            page = call(logs, "GetLogEvents", **params)
        except ApiError as err:
            if err.code == NOT_FOUND:
                return None
            raise
        messages.extend(str(event.get("message", "")) for event in page.get("events", []))
        following = page.get("nextForwardToken")
        if not following or following == token:
            break
        token = following
    if not messages:
        return None
    return parse_manifest(messages, run_id)


def _arn_resource(arn: Any) -> tuple[str, str]:
    """(kind, id) of ``arn:aws:omics:<region>:<account>:<kind>/<id>``; ("", "") otherwise."""
    if not isinstance(arn, str):
        return "", ""
    kind, _, resource_id = arn.rsplit(":", 1)[-1].partition("/")
    return kind, resource_id


def _task(record: Mapping[str, Any]) -> Task:
    start, stop = _time(record.get("startTime")), _time(record.get("stopTime"))
    metrics = _object(record.get("metrics"))
    running = _number(metrics.get("runningSeconds"))
    if running is None:
        running = max(0.0, (stop - start).total_seconds()) if start and stop else 0.0
    return Task(
        name=str(record.get("name") or ""),
        status=str(record.get("status") or ""),
        instance_type=str(record.get("instanceType") or ""),
        start=start,
        stop=stop,
        running_seconds=running,
    )


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, or {} for anything else (a record tolerates a missing or odd ``metrics``)."""
    return value if isinstance(value, dict) else {}


def _time(value: Any) -> datetime.datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no zone); None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)


def _number(value: Any) -> float | None:
    """A finite number (or numeric text) as a float; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- prices -------------------------------------------------------------------------------


SERVICE_CODE = "AmazonOmics"
STATIC_STORAGE, DYNAMIC_STORAGE = "Run Storage", "Dynamic Run Storage"
STORAGE_RESOURCE_TYPES = {STATIC: STATIC_STORAGE, DYNAMIC: DYNAMIC_STORAGE}
PAGE_SIZE = 100  # GetProducts' largest MaxResults
_NO_PRICE = ""  # to_json's mark of a resource type the Price List has no USD price for


class PriceBook:
    """Hourly USD prices by resourceType for one Region, read from the Price List API once each and kept."""

    def __init__(self, pricing: Client, region: str, known: Mapping[str, str] | None = None) -> None:
        """``pricing``: a Price List client (its endpoint in ``clients.PRICING_REGION``); ``region``: the
        runs' Region (the products' ``regionCode``); ``known``: an earlier ``to_json()`` for that
        Region, whose resource types are not asked again. Raises ValueError for a price that is
        not a decimal number."""
        self._pricing = pricing
        self.region = region
        self._prices: dict[str, Decimal | None] = {}
        self._asked = 0
        for resource_type, text in (known or {}).items():
            self._prices[resource_type] = None if text == _NO_PRICE else _decimal(text, resource_type)

    def price(self, resource_type: str) -> Decimal | None:
        """The hourly USD price of ``resource_type`` (an instance type such as ``omics.c.large``,
        or ``"Run Storage"``/``"Dynamic Run Storage"``) in the Region, or None if there is none.

        GetProducts for service code AmazonOmics with TERM_MATCH filters on ``regionCode`` and
        ``resourceType``, paged until a product has an OnDemand price in USD (its first one, as
        the run analyzer reads it). ``PriceList`` items are JSON text, one product each. The
        answer, None included, is kept: each resource type is asked once. A failed call raises
        ApiError and keeps nothing, so a later call asks again.
        """
        if resource_type in self._prices:
            return self._prices[resource_type]
        found: Decimal | None = None
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "ServiceCode": SERVICE_CODE,
                "Filters": [
                    {"Type": "TERM_MATCH", "Field": "regionCode", "Value": self.region},
                    {"Type": "TERM_MATCH", "Field": "resourceType", "Value": resource_type},
                ],
                "MaxResults": PAGE_SIZE,
            }
            if token:
                params["NextToken"] = token
            self._asked += 1
            page = call(self._pricing, "GetProducts", **params)
            found = next((p for p in map(_on_demand_usd, page.get("PriceList", [])) if p is not None), None)
            token = page.get("NextToken")
            if found is not None or not token:
                break
        self._prices[resource_type] = found
        return found

    def to_json(self) -> dict[str, str]:
        """What was read, resourceType -> price as decimal text, "" where there is none: for
        storing, and for a later PriceBook's ``known``."""
        return {key: _NO_PRICE if value is None else str(value) for key, value in sorted(self._prices.items())}

    @property
    def asked(self) -> int:
        """How many GetProducts calls were made (pages included)."""
        return self._asked


def _on_demand_usd(item: Any) -> Decimal | None:
    """The first OnDemand USD ``pricePerUnit`` of a Price List product (JSON text), or None."""
    try:
        product = json.loads(item) if isinstance(item, str) else item
    except ValueError:
        return None
    if not isinstance(product, dict):
        return None
    terms = product.get("terms")
    on_demand = terms.get("OnDemand") if isinstance(terms, dict) else None
    for term in on_demand.values() if isinstance(on_demand, dict) else ():
        dimensions = term.get("priceDimensions") if isinstance(term, dict) else None
        for dimension in dimensions.values() if isinstance(dimensions, dict) else ():
            per_unit = dimension.get("pricePerUnit") if isinstance(dimension, dict) else None
            usd = per_unit.get("USD") if isinstance(per_unit, dict) else None
            if isinstance(usd, str):
                try:
                    price = Decimal(usd)
                except InvalidOperation:
                    continue
                if price.is_finite():
                    return price
    return None


def _decimal(text: str, resource_type: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValueError(f"known price of {resource_type!r} is not a decimal number: {text!r}")
    return value


# --- the cost -----------------------------------------------------------------------------

STATIC_MINIMUM_GIB = 1200
STATIC_STEP_GIB = 2400
_SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True)
class RunCost:
    """A run's estimated USD cost: its tasks' compute and its run storage. A component is None when
    a price it needs is missing; ``missing`` names those resource types."""

    compute: Decimal | None
    storage: Decimal | None
    missing: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal | None:
        """compute + storage; None if either is None."""
        if self.compute is None or self.storage is None:
            return None
        return self.compute + self.storage


def static_storage_gib(capacity: int | None) -> int:
    """The GiB a STATIC run is billed for: 1,200 when ``capacity`` is absent or at most 1,200, else
    ``capacity`` rounded up to a multiple of 2,400 (the tools' rule; the user guide allows multiples
    of 1,200 where available, so above 2,400 this may be too high)."""
    if capacity is None or capacity <= STATIC_MINIMUM_GIB:
        return STATIC_MINIMUM_GIB
    return -(-capacity // STATIC_STEP_GIB) * STATIC_STEP_GIB


def run_cost(manifest: RunManifest, prices: PriceBook) -> RunCost:
    """The estimated cost of a run from its manifest (see the module's doc for what it leaves out).

    compute: the sum over instance types of price x billed seconds / 3,600 (each task at least a
    minute). storage: STATIC, the "Run Storage" price x ``static_storage_gib(capacity)`` x run hours;
    DYNAMIC, the "Dynamic Run Storage" price x ``storageAverageGiB`` x run hours, 0 without an
    average. Run hours are the run record's stop - start (0 if either is missing). A price is asked
    only where it is needed; a missing one makes its component None.
    """
    missing: list[str] = []

    compute: Decimal | None = Decimal(0)
    for instance_type, seconds in sorted(manifest.instance_seconds.items()):
        price = prices.price(instance_type)
        if price is None:
            missing.append(instance_type)
            compute = None
        elif compute is not None:
            compute += price * Decimal(repr(seconds)) / _SECONDS_PER_HOUR

    if manifest.storage_type == DYNAMIC:
        gib = Decimal(repr(manifest.storage_average_gib or 0.0))
    else:
        gib = Decimal(static_storage_gib(manifest.storage_capacity))
    gib_seconds = gib * Decimal(repr(manifest.run_seconds))
    storage: Decimal | None = Decimal(0)
    if gib_seconds > 0:
        resource_type = STORAGE_RESOURCE_TYPES.get(manifest.storage_type, STATIC_STORAGE)
        price = prices.price(resource_type)
        if price is None:
            missing.append(resource_type)
            storage = None
        else:
            storage = price * gib_seconds / _SECONDS_PER_HOUR
    return RunCost(compute=compute, storage=storage, missing=tuple(missing))


_FOUR_PLACES = Decimal("0.0001")


def usd(value: Decimal | None) -> str:
    """``value`` rounded half-up to 4 decimals ("12.3457"), or "" for None."""
    if value is None:
        return ""
    return str(value.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP))
