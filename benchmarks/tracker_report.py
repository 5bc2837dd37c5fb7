"""What the tracker costs for a batch of N runs that ended, 1 % of them failed: settling it
(``check`` lists its runs and keeps them) and reporting it (``report``).

For each size, a fresh Python process runs the tracker's real code with the handlers' own
omics client against the HealthOmics stand-in (tests/standin), which answers ListRunsInBatch
and ListRuns in pages of 100 through the client's own parser, as the service's answers
would be read; S3 is moto's, in the same process. Half of the failures are submissions
refused with a reason that is never resubmitted, half are failed runs, and resubmission is
off, so the figures are one batch's.

Reported per size: wall and CPU time of the settle and of the report, with no network wait
(in Lambda add about 2 x N/100 HealthOmics round trips) but with the stand-in's and moto's
own work, which "services s" measures (the time spent inside their answers, parsing
excluded); the peak of Python's allocations (``tracemalloc``, second untimed pass) and the
process's peak RSS (``ru_maxrss``) next to the RSS before ("before": the imports, moto and
the settings file, which in Lambda would be in S3; moto also keeps the files written, so
the RSS is an upper bound), and the sizes of the files written.

Run: ``.venv/bin/python benchmarks/tracker_report.py`` (about two minutes).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess  # nosec B404
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.omics import omics_client
from tests.standin.healthomics import HealthOmics
from tracker.index import handle

SIZES = (1_000, 10_000, 100_000)
FAILED_EVERY = 100  # 1 %
REGION = "us-east-1"
SETTINGS = ("cohort-7-settings", "settings/run-settings.json")
OUTPUT = "cohort-7-output"
REPORT_URI = f"s3://{OUTPUT}/batch-reports/"
MB = 1024 * 1024
DEFAULT = {
    "workflowId": "9876543",
    "roleArn": "arn:aws:iam::111122223333:role/run",
    "outputUri": f"s3://{OUTPUT}/runs/",
}


def settings_file(count: int) -> bytes:
    """The batch's s3UriSettings file, as the construct writes it from a samplesheet."""
    entries = (
        {
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
        for i in range(count)
    )
    return ("[\n" + ",\n".join(json.dumps(entry) for entry in entries) + "\n]\n").encode()


def rss_mb() -> float:
    """The process's resident set now (Linux), in MB; its peak elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * resource.getpagesize() / MB


class Timed:
    """Time spent inside the services' answers (the stand-in's operations, moto's S3)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def ended_batch(count: int, s3: Any, timed: Timed) -> tuple[HealthOmics, Any, str]:
    """The deploy's batch over the settings file, ended with 1 % failures."""
    service = HealthOmics(s3=s3)
    for name in ("ListRunsInBatch", "ListRuns", "GetBatch", "GetRun"):
        setattr(service, name, timed.wrap(getattr(service, name)))
    omics = omics_client(region_name=REGION)
    bucket, key = SETTINGS
    started = service.StartRunBatch(
        {
            "requestId": "deploy",
            "defaultRunSetting": DEFAULT,
            "batchRunSettings": {"s3UriSettings": f"s3://{bucket}/{key}"},
        }
    )
    batch_id = str(started["id"])
    ids = [f"NA{i:06d}" for i in range(0, count, FAILED_EVERY)]
    service.finish(
        batch_id,
        refused={i: "ValidationException" for i in ids[::2]},
        failed=set(ids[1::2]),
    )
    return service, omics, batch_id


def one_pass(count: int) -> dict[str, Any]:
    """Settle and report the batch in a fresh moto; the times and what was written."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (SETTINGS[0], OUTPUT):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=SETTINGS[0], Key=SETTINGS[1], Body=settings_file(count))
        timed = Timed()
        service, omics, batch_id = ended_batch(count, s3, timed)
        s3._make_api_call = timed.wrap(s3._make_api_call)  # moto's S3 answers in the call
        config = {
            "parts": [{"settingsUri": f"s3://{SETTINGS[0]}/{SETTINGS[1]}"}],
            "resubmission": None,
            "start": json.dumps({"defaultRunSetting": DEFAULT, "tags": {}}),
            "reportUri": REPORT_URI,
            "topicArn": None,
        }
        with service.serving(omics):
            clients = Clients(omics=omics, s3=s3, events=boto3.client("events", region_name=REGION))
            gc.collect()
            before = rss_mb()
            wall, cpu = time.perf_counter(), time.process_time()
            checked = handle({"action": "check", "batchId": batch_id, "cohort": None, "config": config}, clients)
            settle = time.perf_counter() - wall, time.process_time() - cpu
            assert checked["done"], checked
            wall, cpu = time.perf_counter(), time.process_time()
            handle({"action": "report", "batchId": batch_id, "cohort": checked["cohort"], "config": config}, clients)
            reported = time.perf_counter() - wall, time.process_time() - cpu
        prefix = f"batch-reports/batch-{batch_id}/"
        sizes = {
            item["Key"].removeprefix(prefix): item["Size"]
            for item in s3.list_objects_v2(Bucket=OUTPUT, Prefix=prefix)["Contents"]
        }
        return {"settle": settle, "report": reported, "services": timed.seconds, "sizes": sizes, "before": before}


def measure(count: int) -> dict[str, Any]:
    """One size, in this process: a timed pass, then a pass under tracemalloc."""
    timed = one_pass(count)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gc.collect()
    tracemalloc.start()
    one_pass(count)
    traced_peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    sizes = timed["sizes"]
    return {
        "runs": count,
        "settle": timed["settle"][0],
        "settle_cpu": timed["settle"][1],
        "report": timed["report"][0],
        "report_cpu": timed["report"][1],
        "services": timed["services"],
        "traced": traced_peak,
        "rss": peak_rss,
        "base": timed["before"],
        "rows": sum(size for key, size in sizes.items() if key.startswith("batches/")) / MB,
        "json": sizes["report.json"] / MB,
        "csv": sizes["report.csv"] / MB,
        "retry": sizes.get("retry-settings.json", 0) / 1024,
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
        ("settle s", "settle", 8, ".2f"),
        ("CPU s", "settle_cpu", 6, ".2f"),
        ("report s", "report", 8, ".2f"),
        ("CPU s", "report_cpu", 6, ".2f"),
        ("services s", "services", 10, ".2f"),
        ("traced MB", "traced", 9, ".1f"),
        ("RSS MB", "rss", 7, ".0f"),
        ("before MB", "base", 9, ".0f"),
        ("rows MB", "rows", 7, ".1f"),
        ("json MB", "json", 7, ".2f"),
        ("csv MB", "csv", 6, ".2f"),
        ("retry KB", "retry", 8, ".1f"),
    ]
    print(" ".join(f"{title:>{width}}" for title, _, width, _ in columns))
    for count in SIZES:
        # A process per size (this interpreter, this script), so that ru_maxrss is this size's own peak.
        out = subprocess.run(  # nosec B603
            [sys.executable, __file__, "--one", str(count)], check=True, capture_output=True, text=True
        ).stdout
        m = json.loads(out)
        print(" ".join(f"{m[key]:>{width}{fmt}}" for _, key, width, fmt in columns))


if __name__ == "__main__":
    main()
