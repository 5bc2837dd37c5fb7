#!/usr/bin/env python3
"""What run insight costs per 100,000 runs: the insight function's capture, and the report step.

Capture: the insight function's own code (lambda/insight) takes ``SAMPLE`` ended runs' events in
batches of 100, as its queue delivers them, with the HealthOmics stand-in answering GetRun and
GetBatch, moto's CloudWatch Logs serving each run's manifest (a run record and 8 tasks) and moto's
S3 the records; the Price List stand-in the prices. The calls per run and the CPU per batch are
measured and scaled to 100,000 runs (the work is per run and per batch, nothing grows with the
cohort). The dollar figure adds, per call, a network round trip of ``ROUND_TRIP_SECONDS`` (not
measurable here) to the function's time, at arm64 Lambda's and SQS's us-east-1 list prices.

Report: the tracker's report step over one ended batch of ``RUNS`` runs, with every run's record
in S3 (as the insight function leaves them) against the same report without run insight: wall
and CPU time, the peak of Python's allocations (tracemalloc, a second pass), and report.json's
size. The time from the last run's end to the final report is the queue's batching window, one
capture, the batch's own event and the settle and report (``benchmarks/tracker_report.py``).

Run: .venv/bin/python benchmarks/run_insight.py [runs]   (about three minutes for 100,000)
"""

from __future__ import annotations

import datetime
import gc
import json
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

import boto3
from moto import mock_aws

from insight import index
from omics_batch_construct_runtime import contract, runrecords
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore
from omics_batch_construct_runtime.omics import omics_client
from tests.standin.healthomics import HealthOmics
from tests.standin.pricing import PriceList, pricing_client
from tests.standin.workflowlog import put_manifest, task_record
from tracker.index import handle

REGION = "us-east-1"
BUCKET = "cohort-7-output"
REPORT_URI = f"s3://{BUCKET}/batch-reports/"
RUNS = 100_000
SAMPLE = 2_000  # runs captured, in batches of BATCH
BATCH = 100
TASKS = 8
ROUND_TRIP_SECONDS = 0.03
LAMBDA_GB_SECOND_USD = 0.0000133334  # arm64, us-east-1
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
LAMBDA_GB = 0.5
SQS_REQUEST_USD = 0.40 / 1_000_000
S3_PUT_USD = 0.005 / 1000
START = datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)
MB = 1024 * 1024
DEFAULT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::111122223333:role/run"}


def world(count: int) -> tuple[HealthOmics, Clients, PriceList, str]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    service, prices = HealthOmics(), PriceList()
    omics, pricing = omics_client(region_name=REGION), pricing_client()
    logs, events = boto3.client("logs", region_name=REGION), boto3.client("events", region_name=REGION)
    clients = Clients(omics=omics, s3=s3, logs=logs, pricing=pricing, events=events)
    started = service.StartRunBatch(
        {
            "requestId": "deploy",
            "defaultRunSetting": DEFAULT,
            "batchRunSettings": {"inlineSettings": [{"runSettingId": "x"}]},
            "tags": {contract.DEFINITION_TAG: "key"},
        }
    )
    batch_id = str(started["id"])
    service.batches[batch_id].settings = [{"runSettingId": f"NA{i:06d}"} for i in range(count)]
    service.finish(batch_id, failed={f"NA{i:06d}" for i in range(0, count, 100)})
    ManifestStore(s3, CohortLayout(REPORT_URI, batch_id)).update(lambda _: Manifest(batch_id))
    return service, clients, prices, batch_id


def capture(sample: int) -> dict[str, Any]:
    """The insight function over ``sample`` ended runs; its calls by operation and its CPU."""
    with mock_aws():
        service, clients, prices, _ = world(sample)
        with service.serving(clients.omics), prices.serving(clients.pricing):
            runs = service.started()[0].runs
            for run in runs:
                tasks = [
                    task_record(f"task-{t}", "omics.m.xlarge", START + datetime.timedelta(minutes=t), 600)
                    for t in range(TASKS)
                ]
                stop = START + datetime.timedelta(hours=2)
                put_manifest(
                    clients.logs, run.run_id, run.uuid, storage_capacity=1200, start=START, stop=stop, tasks=tasks
                )
            calls: Counter[str] = Counter()
            for client in (clients.omics, clients.s3, clients.logs, clients.pricing):
                client.meta.events.register(
                    "provide-client-params",
                    lambda model, **_: calls.update([model.name]),
                    unique_id=f"count-{id(client)}",
                )
            index._cohorts = None
            cpu = time.process_time()
            for first in range(0, len(runs), BATCH):
                messages = [
                    {"messageId": run.run_id, "body": json.dumps(run.status_event()), "attributes": {}}
                    for run in runs[first : first + BATCH]
                ]
                answer = index.capture(messages, clients, REPORT_URI, REGION)
                assert not answer["batchItemFailures"], answer
            cpu = time.process_time() - cpu
    return {"calls": dict(calls), "cpu": cpu, "batches": len(runs) // BATCH}


def report(count: int, *, insight: bool) -> dict[str, Any]:
    """Settle and report one ended batch of ``count`` runs; with ``insight``, every run recorded."""
    with mock_aws():
        service, clients, prices, batch_id = world(count)
        layout = CohortLayout(REPORT_URI, batch_id)
        runs = service.started()[0].runs
        for first in range(0, count, BATCH):
            records = [
                {
                    **{key: "" for key in runrecords.FIELDS},
                    "runId": run.run_id,
                    "runUuid": run.uuid,
                    "batchId": batch_id,
                    "status": run.status,
                    "computeCostUsd": "2.0736",
                    "storageCostUsd": "0.4603",
                    "costUsd": "2.5339",
                    "failureReason": "OUT_OF_MEMORY_ERROR" if run.status == "FAILED" else "",
                    "failedTask": "task-3" if run.status == "FAILED" else "",
                }
                for run in runs[first : first + BATCH]
            ]
            runrecords.write(clients.s3, layout, batch_id, records)
        settings = json.dumps([{"runSettingId": f"NA{i:06d}"} for i in range(count)])
        clients.s3.put_object(Bucket=BUCKET, Key="settings.json", Body=settings.encode())
        config = {
            "parts": [{"settingsUri": f"s3://{BUCKET}/settings.json"}],
            "resubmission": None,
            "start": json.dumps({"defaultRunSetting": DEFAULT, "tags": {}}),
            "reportUri": REPORT_URI,
            "topicArn": None,
            "insight": insight,
        }
        with service.serving(clients.omics), prices.serving(clients.pricing):
            checked = handle({"action": "check", "batchId": batch_id, "cohort": None, "config": config}, clients)
            assert checked["done"], checked
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            handle({"action": "report", "batchId": batch_id, "cohort": checked["cohort"], "config": config}, clients)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            gc.collect()
            tracemalloc.start()
            handle({"action": "report", "batchId": batch_id, "cohort": checked["cohort"], "config": config}, clients)
            peak = tracemalloc.get_traced_memory()[1] / MB
            tracemalloc.stop()
        size = clients.s3.head_object(Bucket=BUCKET, Key=f"batch-reports/batch-{batch_id}/report.json")["ContentLength"]
    return {"wall": wall, "cpu": cpu, "peak": peak, "json": size / MB}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    measured = capture(SAMPLE)
    scale = count / SAMPLE
    calls = {name: round(n * scale) for name, n in sorted(measured["calls"].items())}
    invocations = count // BATCH
    cpu_per_batch = measured["cpu"] / measured["batches"]
    seconds = invocations * cpu_per_batch + sum(calls.values()) * ROUND_TRIP_SECONDS
    sqs_requests = count + 2 * invocations  # a send per run; a receive and a delete a batch, at best
    dollars = {
        "Lambda": seconds * LAMBDA_GB * LAMBDA_GB_SECOND_USD + invocations * LAMBDA_REQUEST_USD,
        "SQS": sqs_requests * SQS_REQUEST_USD,
        "S3 PUT": calls.get("PutObject", 0) * S3_PUT_USD,
    }
    print(f"capture, measured on {SAMPLE:,} runs ({TASKS} tasks each) and scaled to {count:,}:")
    print(f"  invocations: {invocations:,} of {BATCH} runs; CPU {cpu_per_batch * 1000:.0f} ms a batch here")
    print("  calls: " + ", ".join(f"{name} {n:,}" for name, n in calls.items()))
    print(f"  function time with {ROUND_TRIP_SECONDS * 1000:.0f} ms a call: {seconds / invocations:.1f} s a batch")
    print(
        "  list price, USD: "
        + ", ".join(f"{k} {v:.2f}" for k, v in dollars.items())
        + f"; total {sum(dollars.values()):.2f}"
    )
    without = report(count, insight=False)
    with_insight = report(count, insight=True)
    print(f"report of {count:,} runs (1 % failed):")
    for name, m in (("without run insight", without), ("with every run recorded", with_insight)):
        figures = f"{m['wall']:.1f} s ({m['cpu']:.1f} s CPU), peak {m['peak']:.0f} MiB"
        print(f"  {name}: {figures}, report.json {m['json']:.1f} MiB")
    print(f"  ratio: {with_insight['cpu'] / without['cpu']:.2f}x the CPU of the report without it")


if __name__ == "__main__":
    main()
