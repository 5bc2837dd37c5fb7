"""What the tracker's ``report`` costs for a batch of N runs, 1 % of them failed.

For each size, a fresh Python process runs ``tracker.report.report`` against real botocore
clients under Stubbers, so every request and response is checked against the service
models as in the tests: HealthOmics answers ListRuns and ListRunsInBatch with pages of 100
(made one at a time, when asked for, as the service would send them), S3 serves the
original settings file (streamed) and takes the three PutObjects, EventBridge and SNS take
the summary. Half of the failures are refused submissions, half are failed runs.

Reported per size: wall and CPU time of one report, with no network wait (in Lambda add
about 2 x N/100 HealthOmics round trips) but with the stubs' own work, most of it the
Stubber validating each page against the model, which "stubs s" measures; the peak of
Python's allocations (``tracemalloc``, a second, untimed pass), the process's peak RSS
(``ru_maxrss``, after the timed pass) next to the RSS just before the report ("before":
the imports and the stubbed settings file, which in Lambda would be in S3), and the sizes
of the files written.

Run: ``.venv/bin/python benchmarks/tracker_report.py`` (about 30 s).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import io
import json
import resource
import subprocess  # nosec B404
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import boto3
from botocore.response import StreamingBody
from botocore.stub import Stubber

from omics_common.clients import Clients
from omics_common.omics import omics_client
from tracker.report import ReportRequest, report

SIZES = (1_000, 10_000, 100_000)
FAILED_EVERY = 100  # 1 %
PAGE = 100
# Stubbed clients send nothing; botocore still wants credentials to sign with.
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}  # nosec
BATCH_ID = "4455667"
PREFIX = "arn:aws:omics:us-east-1:111122223333"
T0 = datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)
MB = 1024 * 1024


def settings_file(count: int) -> bytes:
    """The batch's s3UriSettings file, as the construct writes it from a samplesheet.

    Written entry by entry, so that making it does not raise the process's peak RSS above
    what the report itself takes.
    """
    out = io.BytesIO()
    out.write(b"[")
    for i in range(count):
        entry = {
            "runSettingId": f"NA{i:06d}",
            "name": f"NA{i:06d}",
            "priority": i % 100,
            "parameters": {
                "sample": f"NA{i:06d}",
                "fastq_1": f"s3://cohort-7-inputs/fastq/NA{i:06d}_S{i % 96 + 1}_L001_R1_001.fastq.gz",
                "fastq_2": f"s3://cohort-7-inputs/fastq/NA{i:06d}_S{i % 96 + 1}_L001_R2_001.fastq.gz",
                "strandedness": ("auto", "forward", "reverse")[i % 3],
            },
            "runTags": {"cohort": "cohort-7"},
        }
        out.write(b",\n" if i else b"\n")
        out.write(json.dumps(entry).encode())
    out.write(b"\n]\n")
    return out.getvalue()


def rss_mb() -> float:
    """The process's resident set now (Linux), in MB; its peak elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * resource.getpagesize() / MB


def in_batch_item(i: int) -> dict[str, Any]:
    if i % FAILED_EVERY == 0 and i % (2 * FAILED_EVERY) == 0:
        return {
            "runSettingId": f"NA{i:06d}",
            "submissionStatus": "FAILED",
            "submissionFailureReason": "ServiceQuotaExceeded",
            "submissionFailureMessage": "The maximum number of active runs has been reached",
        }
    return {
        "runSettingId": f"NA{i:06d}",
        "runId": str(7_000_000 + i),
        "runInternalUuid": f"8f5c3a1e-2b7d-4c9e-9a1f-{i:012d}",
        "runArn": f"{PREFIX}:run/{7_000_000 + i}",
        "submissionStatus": "SUCCESS",
    }


def run_item(i: int) -> dict[str, Any]:
    return {
        "arn": f"{PREFIX}:run/{7_000_000 + i}",
        "id": str(7_000_000 + i),
        "status": "FAILED" if i % FAILED_EVERY == 0 else "COMPLETED",
        "workflowId": "9876543",
        "batchId": BATCH_ID,
        "name": f"NA{i:06d}",
        "priority": i % 100,
        "storageCapacity": 1200,
        "creationTime": T0,
        "startTime": T0 + datetime.timedelta(minutes=5),
        "stopTime": T0 + datetime.timedelta(hours=3, seconds=i),
        "storageType": "DYNAMIC",
        "workflowName": "rnaseq",
    }


def stub_omics(count: int, stub_time: list[float]) -> Any:
    """An omics client whose listings are answered page by page, when asked for.

    The time spent making and validating the pages is added to ``stub_time``.
    """
    client = omics_client(**CREDENTIALS)
    stubber = Stubber(client)
    submitted = [i for i in range(count) if in_batch_item(i).get("runId")]
    listings = {
        # ListRuns in an order of its own (newest first), so the join is by run id.
        "ListRuns": ("list_runs", "items", lambda k: [run_item(i) for i in submitted[::-1][k : k + PAGE]]),
        "ListRunsInBatch": ("list_runs_in_batch", "runs", lambda k: [in_batch_item(i) for i in range(k, k + PAGE)]),
    }
    totals = {"ListRuns": len(submitted), "ListRunsInBatch": count}

    def next_page(params: dict[str, Any], model: Any, **_: Any) -> None:
        started = time.perf_counter()
        method, key, items = listings[model.name]
        start = int(params.get("startingToken", "0"))
        page: dict[str, Any] = {key: items(start)}
        if start + PAGE < totals[model.name]:
            page["nextToken"] = str(start + PAGE)
        stubber.add_response(method, page, dict(params))
        stub_time[0] += time.perf_counter() - started

    for name in listings:
        client.meta.events.register(f"provide-client-params.omics.{name}", next_page)
    batch = {
        "id": BATCH_ID,
        "arn": f"{PREFIX}:runBatch/{BATCH_ID}",
        "name": "cohort-7",
        "status": "PROCESSED",
        "totalRuns": count,
        "defaultRunSetting": {"workflowId": "9876543", "roleArn": "arn:aws:iam::111122223333:role/run"},
        "failureReason": "",
    }
    batch["defaultRunSetting"]["outputUri"] = "s3://cohort-7-output/runs/"
    stubber.add_response("get_batch", batch, {"batchId": BATCH_ID})
    stubber.activate()
    return client


def stub_s3(settings: bytes, sizes: dict[str, int]) -> Any:
    """S3 serving the settings file and taking the report files (their sizes recorded)."""
    client = boto3.client("s3", **CREDENTIALS)
    stubber = Stubber(client)
    stubber.add_response("get_object", {"Body": StreamingBody(io.BytesIO(settings), len(settings))})
    for _ in range(3):
        stubber.add_response("put_object", {"ETag": '"0"'})

    def record(params: dict[str, Any], **_: Any) -> None:
        with params["Body"].getbuffer() as view:
            sizes[params["Key"].rsplit("/", 1)[-1]] = view.nbytes

    client.meta.events.register("provide-client-params.s3.PutObject", record)
    stubber.activate()
    return client


def stub_client(service: str, method: str, response: dict[str, Any]) -> Any:
    client = boto3.client(service, **CREDENTIALS)
    stubber = Stubber(client)
    stubber.add_response(method, response)
    stubber.activate()
    return client


def stub_events(details: list[dict[str, Any]]) -> Any:
    """EventBridge taking the completion event, whose detail (the summary) is kept."""
    client = stub_client("events", "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]})

    def record(params: dict[str, Any], **_: Any) -> None:
        details.append(json.loads(params["Entries"][0]["Detail"]))

    client.meta.events.register("provide-client-params.events.PutEvents", record)
    return client


def one_report(count: int, settings: bytes) -> tuple[dict[str, Any], dict[str, int], float]:
    sizes: dict[str, int] = {}
    stub_time = [0.0]
    details: list[dict[str, Any]] = []
    clients = Clients(
        omics=stub_omics(count, stub_time),
        s3=stub_s3(settings, sizes),
        events=stub_events(details),
        sns=stub_client("sns", "publish", {"MessageId": "1"}),
    )
    request = ReportRequest(
        batch_id=BATCH_ID,
        status="PROCESSED",
        report_uri="s3://cohort-7-output/batch-reports/",
        settings_uri="s3://cdk-assets/settings.json",
        settings=None,
        topic_arn="arn:aws:sns:us-east-1:111122223333:news",
    )
    report(clients, request)
    return details[-1], sizes, stub_time[0]


def measure(count: int) -> dict[str, Any]:
    """One size, in this process: a timed pass, then a pass under tracemalloc."""
    settings = settings_file(count)
    gc.collect()
    base_rss = rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    result, sizes, stubs = one_report(count, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gc.collect()
    tracemalloc.start()
    one_report(count, settings)
    traced_peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    return {
        "runs": count,
        "wall": wall,
        "cpu": cpu,
        "stubs": stubs,
        "traced": traced_peak,
        "rss": peak_rss,
        "base": base_rss,
        "settings": len(settings) / MB,
        "json": sizes["report.json"] / MB,
        "csv": sizes["report.csv"] / MB,
        "retry": sizes.get("retry-settings.json", 0) / 1024,
        "counts": result["counts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=int, help="measure this one size and print JSON (used internally)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    # (title, key, width, format)
    columns = [
        ("runs", "runs", 8, ","),
        ("wall s", "wall", 7, ".2f"),
        ("CPU s", "cpu", 6, ".2f"),
        ("stubs s", "stubs", 7, ".2f"),
        ("traced MB", "traced", 9, ".1f"),
        ("RSS MB", "rss", 7, ".0f"),
        ("before MB", "base", 9, ".0f"),
        ("settings MB", "settings", 11, ".1f"),
        ("json MB", "json", 7, ".2f"),
        ("csv MB", "csv", 6, ".2f"),
        ("retry KB", "retry", 8, ".1f"),
    ]
    print(" ".join(f"{title:>{width}}" for title, _, width, _ in columns), " retries")
    for count in SIZES:
        # A process per size (this interpreter, this script), so that ru_maxrss is this size's own peak.
        out = subprocess.run(  # nosec B603
            [sys.executable, __file__, "--one", str(count)], check=True, capture_output=True, text=True
        ).stdout
        m = json.loads(out)
        print(" ".join(f"{m[key]:>{width}{fmt}}" for _, key, width, fmt in columns), f"{m['counts']['retry']:>8,}")


if __name__ == "__main__":
    main()
