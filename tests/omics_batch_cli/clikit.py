"""Helpers for the CLI tests: fake responses, captured streams, the client factory."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
BATCH_ID = "1234567"
GET_BATCH = {"batchId": BATCH_ID}


def new_client(service: str, **config: Any) -> Any:
    """A real client with fake credentials; no call leaves the process under a Stubber."""
    return boto3.client(
        service,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(**config) if config else None,
    )


class TtyStringIO(io.StringIO):
    """Captured output that claims to be a terminal, for the live (rich) view."""

    def isatty(self) -> bool:
        return True


@dataclass
class Result:
    """What one CLI invocation did."""

    code: int
    out: str
    err: str
    sleeps: list[float] = field(default_factory=list)
    services: list[str] = field(default_factory=list)


@dataclass
class FakeClients:
    """The client factory main() gets: hands out the stubbed clients and records asks."""

    clients: dict[str, Any]
    asked: list[str] = field(default_factory=list)

    def __call__(self, service: str) -> Any:
        self.asked.append(service)
        return self.clients[service]


Run = Callable[..., Result]  # the run_cli fixture: argv -> Result


def batch(status: str, total: int | None = 4, *, failure_reason: str | None = None, **counts: int) -> dict[str, Any]:
    """A GetBatch response; ``counts`` are submissionSummary/runSummary members by name."""
    submission_keys = {"successfulStartSubmissionCount", "failedStartSubmissionCount", "pendingStartSubmissionCount"}
    response: dict[str, Any] = {
        "id": BATCH_ID,
        "arn": f"arn:aws:omics:{REGION}:111122223333:runBatch/{BATCH_ID}",
        "name": "cohort-7",
        "status": status,
        "submissionSummary": {k: v for k, v in counts.items() if k in submission_keys},
        "runSummary": {k: v for k, v in counts.items() if k not in submission_keys},
    }
    if total is not None:
        response["totalRuns"] = total
    if failure_reason:
        response["failureReason"] = failure_reason
    return response
