#!/usr/bin/env python3
"""How a large batch is settled when HealthOmics answers slowly: the invocations it takes, and the
longest one, on a clock each list call moves on by the given latency.

The real tracker's checks (lambda/tracker/cohort.py, settle.py) settle a PROCESSED batch against the
HealthOmics stand-in and moto's S3, each check given the budget an invocation of the tracker
function has (its 900 s timeout, less one call's worst case and a minute to save its work). What
is printed is counted on the simulated clock, so the machine's speed does not blur it.

Run: .venv/bin/python benchmarks/settle.py
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import boto3
from moto import mock_aws

from omics_batch_construct_runtime import contract, lifecycle
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.omics import omics_client
from tests.standin.healthomics import HealthOmics
from tracker.index import WORK_MARGIN_SECONDS, handle

BUCKET = "out"
DEFAULT = {
    "workflowId": "9876543",
    "roleArn": "arn:aws:iam::123456789012:role/run",
    "outputUri": f"s3://{BUCKET}/runs/",
}
CASES = [(20_000, 5.0), (100_000, 0.3), (100_000, 1.0), (100_000, 5.0)]


class Clock:
    """Moved on by ``latency`` at each HealthOmics call the settle makes."""

    def __init__(self, client: Any, latency: float) -> None:
        self.now, self.calls, self.latency = 0.0, 0, latency
        client.meta.events.register("provide-client-params.omics.*", self._tick, unique_id=f"clock-{id(self)}")

    def _tick(self, model: Any, **_: Any) -> None:
        if model.name in ("ListRuns", "ListRunsInBatch", "GetRun"):
            self.now += self.latency
            self.calls += 1


def settle(runs: int, latency: float) -> tuple[int, float, int]:
    """Invocations, the longest one's simulated seconds, and the calls made."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        settings = [{"runSettingId": f"s{i}"} for i in range(runs)]
        s3.put_object(Bucket=BUCKET, Key="settings.json", Body=json.dumps(settings).encode())
        service = HealthOmics(s3=s3)
        omics = omics_client(region_name="us-east-1")
        with service.serving(omics):
            first = str(
                service.StartRunBatch(
                    {
                        "requestId": "deploy",
                        "defaultRunSetting": DEFAULT,
                        "batchRunSettings": {"s3UriSettings": f"s3://{BUCKET}/settings.json"},
                    }
                )["id"]
            )
            service.finish(first)
            clock = Clock(omics, latency)
            clients = Clients(omics=omics, s3=s3)
            config = {"parts": [{"settingsUri": f"s3://{BUCKET}/settings.json"}], "reportUri": f"s3://{BUCKET}/r/"}
            budget = contract.TRACKER_TIMEOUT_SECONDS - WORK_MARGIN_SECONDS
            durations, state = [], None
            while True:
                began = clock.now
                event = {"action": "check", "batchId": first, "cohort": state, "config": {**config, "start": "{}"}}
                result = handle(event, clients, lifecycle.time_budget(budget, clock=lambda: clock.now))
                durations.append(clock.now - began)
                state = result["cohort"]
                if result["done"]:
                    return len(durations), max(durations), clock.calls


def main() -> None:
    logging.disable(logging.CRITICAL)
    budget = contract.TRACKER_TIMEOUT_SECONDS - WORK_MARGIN_SECONDS
    print(f"Settling a PROCESSED batch; each invocation lists for at most {budget} s of its 900 s (simulated):")
    print(f"{'runs':>9}{'s/call':>8}{'calls':>8}{'invocations':>13}{'longest s':>11}{'bound':>7}")
    for runs, latency in CASES:
        invocations, longest, calls = settle(runs, latency)
        bound = math.ceil(calls * latency / budget) or 1
        print(f"{runs:>9,}{latency:>8g}{calls:>8,}{invocations:>13}{longest:>11.0f}{bound:>7}")


if __name__ == "__main__":
    main()
