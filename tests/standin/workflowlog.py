"""Run manifests written to CloudWatch Logs as HealthOmics writes them, for a moto logs client.

HealthOmics writes a run's manifest to the log group ``/aws/omics/WorkflowLog``, stream
``manifest/run/<runId>/<runUuid>``, just after the run ends: one JSON record per log event, the
run's first, then one per task. The records here carry the field names the public run analyzers
read (the run's ``arn``, ``storageType``, ``storageCapacity``, times, ``metrics``; each task's
``arn``, ``name``, ``status``, ``instanceType``, ``cpus``, ``memory``, times, ``metrics``), with
times in ISO 8601 UTC with milliseconds and ``Z``. Fields no source shows are left out.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
LOG_GROUP = "/aws/omics/WorkflowLog"
PUT_BATCH = 1000  # events a put_log_events call carries here (the API takes up to 10,000 or 1 MB)
_TASK_IDS = itertools.count(7_000_001)


def iso(value: datetime.datetime) -> str:
    """``2026-04-01T08:00:00.123Z``: UTC with milliseconds, as the manifest writes times."""
    value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def stream_name(run_id: str, run_uuid: str) -> str:
    return f"manifest/run/{run_id}/{run_uuid}"


def run_record(
    run_id: str,
    *,
    storage_type: str | None = "STATIC",
    storage_capacity: int | None = None,
    start: datetime.datetime | None = None,
    stop: datetime.datetime | None = None,
    storage_average_gib: float | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The run's record; ``None`` leaves a field out (``storage_type=None``: a manifest without one)."""
    record: dict[str, Any] = {
        "arn": f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{run_id}",
        "name": f"run-{run_id}",
        "workflow": f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/1234567",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/omics-run",
        "outputUri": "s3://outputs/runs/",
    }
    if storage_type is not None:
        record["storageType"] = storage_type
    if storage_capacity is not None:
        record["storageCapacity"] = storage_capacity
    if start is not None:
        record["creationTime"] = iso(start - datetime.timedelta(minutes=5))
        record["startTime"] = iso(start)
    if stop is not None:
        record["stopTime"] = iso(stop)
    metrics: dict[str, Any] = {}
    if start is not None and stop is not None:
        metrics["runningSeconds"] = (stop - start).total_seconds()
    if storage_capacity is not None:
        metrics["storageReservedGiB"] = storage_capacity
    if storage_average_gib is not None:
        metrics["storageAverageGiB"] = storage_average_gib
        metrics["storageMaximumGiB"] = storage_average_gib * 1.5
    if metrics:
        record["metrics"] = metrics
    record.update(fields)
    return record


def task_record(
    name: str,
    instance_type: str | None,
    start: datetime.datetime | None,
    seconds: float | None,
    *,
    status: str = "COMPLETED",
    task_id: str | None = None,
    created: datetime.datetime | None = None,
    running_seconds: bool = True,
    cpus: int = 2,
    memory: int = 4,
    **fields: Any,
) -> dict[str, Any]:
    """A task's record: started at ``start``, stopped ``seconds`` later; ``running_seconds=False``
    leaves ``metrics.runningSeconds`` out (the reader then uses stop - start). None leaves out the
    instance type, the times or the running time (a task that never started)."""
    task_id = task_id or str(next(_TASK_IDS))
    record: dict[str, Any] = {
        "arn": f"arn:aws:omics:{REGION}:{ACCOUNT}:task/{task_id}",
        "uuid": str(uuid.uuid4()),
        "name": name,
        "status": status,
        "cpus": cpus,
        "memory": memory,
        "gpus": 0,
        "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/tools:1",
    }
    if instance_type is not None:
        record["instanceType"] = instance_type
    created = created or start
    if created is not None:
        record["creationTime"] = iso(created)
    if start is not None:
        record["startTime"] = iso(start)
        if seconds is not None:
            record["stopTime"] = iso(start + datetime.timedelta(seconds=seconds))
    metrics: dict[str, Any] = {"cpusReserved": cpus, "memoryReservedGiB": memory}
    if running_seconds and seconds is not None:
        metrics.update(runningSeconds=seconds, cpusAverage=cpus / 2, memoryAverageGiB=memory / 2)
    record["metrics"] = metrics
    record.update(fields)
    return record


def put_records(logs: Any, run_id: str, run_uuid: str, records: Iterable[Mapping[str, Any] | str]) -> str:
    """Write ``records`` (objects, or raw message text) as one log event each, in order, to the
    run's manifest stream, making the group and the stream as needed; returns the stream's name."""
    stream = stream_name(run_id, run_uuid)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now = int(time.time() * 1000)
    events = [
        {"timestamp": now, "message": record if isinstance(record, str) else json.dumps(record)} for record in records
    ]
    for first in range(0, len(events), PUT_BATCH):
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events[first : first + PUT_BATCH])
    return stream


def put_manifest(
    logs: Any,
    run_id: str,
    run_uuid: str,
    *,
    storage_type: str | None = "STATIC",
    storage_capacity: int | None = None,
    start: datetime.datetime | None = None,
    stop: datetime.datetime | None = None,
    storage_average_gib: float | None = None,
    tasks: Iterable[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Write a run's manifest: its run record (``run_record``), then ``tasks`` (``task_record``s)
    in the order given. Returns the records written."""
    records = [
        run_record(
            run_id,
            storage_type=storage_type,
            storage_capacity=storage_capacity,
            start=start,
            stop=stop,
            storage_average_gib=storage_average_gib,
        ),
        *(dict(task) for task in tasks),
    ]
    put_records(logs, run_id, run_uuid, records)
    return records
