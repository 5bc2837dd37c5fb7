#!/usr/bin/env python3
"""What a growing cohort's diff costs: a revision of a 1,000,000-run cohort that adds 1,000 samples
(and one that removes 1,000, under CANCEL_RUNS), through the deploy handler's own code
(lambda/provider/increment.py, withdraw.py): every part read and digested, the revision's files
streamed against it, the increment written.

S3 is moto's, in memory, and HealthOmics the stand-in. The peak is of Python's allocations while the
handler works (tracemalloc), moto's answer included: it hands over each object whole (S3 streams
it), so the figure is above what the function holds by one object (16 MiB here). The interpreter
and boto3 themselves, about 90 MB in a Lambda function, come on top. Times are also given as a
ratio to json.load of the same bytes, which the machine's speed does not blur.

Run: .venv/bin/python benchmarks/increment.py [runs]
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from moto import mock_aws

from omics_batch_construct_runtime import contract, s3files
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore, Member
from omics_batch_construct_runtime.omics import omics_client
from provider import increment
from provider.properties import parse_properties, start_run_batch_input
from tests.standin.healthomics import HealthOmics

T = TypeVar("T")
BUCKET = "out"
PART_RUNS = 100_000
FIRST = "1234567"
REPORT = f"s3://{BUCKET}/reports/"


def entry(i: int) -> dict[str, Any]:
    """A sample as a samplesheet gives it: its id, its inputs, a name."""
    sample = f"SAMPLE-{i:07d}"
    return {
        "runSettingId": sample,
        "name": sample,
        "parameters": {"reads_1": f"s3://in/{sample}_R1.fastq.gz", "reads_2": f"s3://in/{sample}_R2.fastq.gz"},
    }


def write(s3: Any, key: str, first: int, count: int) -> str:
    body = io.BytesIO()
    for chunk in s3files.json_array(entry(i) for i in range(first, first + count)):
        body.write(chunk)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.getvalue())
    return f"s3://{BUCKET}/{key}"


def measured(work: Callable[[], T]) -> tuple[T, float, float]:
    """The result, the seconds it took, and its peak of Python allocations in MiB (a second run)."""
    began = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - began
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def event(parts: tuple[str, ...], sources: tuple[str, ...], on_delete: str) -> dict[str, Any]:
    """The Update CloudFormation sends for a revision whose settings files are ``sources``."""
    properties = {
        contract.PROP_DEFAULT_RUN_SETTING: {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run"},
        contract.PROP_BATCH_RUN_SETTINGS: {"s3UriSettings": sources[0]},
        contract.PROP_SETTINGS_FILES: list(sources),
        contract.PROP_TRACKER_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:Tracker",
        contract.PROP_REPORT_URI: REPORT,
        contract.PROP_ON_DELETE: on_delete,
        contract.PROP_SCHEMA_VERSION: contract.SCHEMA_VERSION,
    }
    old = {**properties, contract.PROP_SETTINGS_FILES: list(parts)}
    return {
        "RequestType": "Update",
        "PhysicalResourceId": FIRST,
        "ResourceProperties": properties,
        "OldResourceProperties": old,
    }


def main(runs: int) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        service = HealthOmics()
        omics = omics_client(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
        clients = Clients(s3=s3, omics=omics)
        parts = tuple(
            write(s3, f"parts/{n}.json", n * PART_RUNS, min(PART_RUNS, runs - n * PART_RUNS))
            for n in range((runs + PART_RUNS - 1) // PART_RUNS)
        )
        added = (*parts, write(s3, "revision/added.json", runs, 1_000))
        last = len(parts) - 1
        shrunk = (*parts[:-1], write(s3, "revision/less.json", last * PART_RUNS, runs - last * PART_RUNS - 1_000))
        size = sum(s3.head_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])["ContentLength"] for uri in parts)
        layout = CohortLayout(REPORT, FIRST)
        members = tuple(Member(str(n), n, 1) for n in range(len(parts)))
        shape = start_run_batch_input(omics)

        def parse() -> int:
            return sum(len(json.load(s3.get_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])["Body"])) for uri in parts)

        def grow(sources: tuple[str, ...], on_delete: str) -> Callable[[], Manifest]:
            def revision() -> Manifest:
                store = ManifestStore(s3, layout)  # the cohort as its deploy left it, each time
                s3.put_object(
                    Bucket=BUCKET,
                    Key=layout.manifest.split("/", 3)[3],
                    Body=json.dumps(Manifest(FIRST, batches=members, part_files=parts).to_json()).encode(),
                )
                request = event(parts, sources, on_delete)
                increment.grow(clients, request, parse_properties(request["ResourceProperties"], shape), time.time())
                return store.find()  # type: ignore[return-value]

            return revision

        with service.serving(omics):
            _, parse_seconds, parse_peak = measured(parse)
            added_to, grow_seconds, grow_peak = measured(grow(added, contract.ON_DELETE_RETAIN))
            removed_from, remove_seconds, remove_peak = measured(grow(shrunk, contract.ON_DELETE_CANCEL_RUNS))
        last_part = added_to.part_files[-1].split("/", 3)[3]
        new = len(json.load(s3.get_object(Bucket=BUCKET, Key=last_part)["Body"]))
        (withdrawal,) = removed_from.withdrawals
        gone = len(json.load(s3.get_object(Bucket=BUCKET, Key=withdrawal.uri.split("/", 3)[3])["Body"]))

    print(f"cohort: {runs:,} runs in {len(parts)} parts ({size / 2**20:,.0f} MiB of settings)")
    print(f"json.load of every part (reference): {parse_seconds:.1f} s, peak {parse_peak:,.0f} MiB")
    print(
        f"revision adding {new:,} samples: {grow_seconds:.1f} s ({grow_seconds / parse_seconds:.1f}x json.load), "
        f"peak {grow_peak:,.0f} MiB; parts after it: {len(added_to.part_files)}"
    )
    print(
        f"revision removing {gone:,} samples (CANCEL_RUNS): {remove_seconds:.1f} s "
        f"({remove_seconds / parse_seconds:.1f}x json.load), peak {remove_peak:,.0f} MiB"
    )


if __name__ == "__main__":
    logging.disable(logging.INFO)
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
