"""What the ``omics-batch`` command asks HealthOmics of a batch, as functions of a client.

Each function takes the omics client as an argument (tests pass a stubbed one) and returns
plain data; nothing here prints or sleeps. Retries for throttling and transient errors are
the client's own (botocore's standard mode). Which runs failed and whether a batch ended
clean are the outcome rules the tracker applies too (``omics_batch_construct_runtime.outcome``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omics_batch_construct_runtime import lifecycle, outcome

OmicsClient = Any  # a boto3 omics client; typed loosely, boto3 ships no stubs


def is_terminal(status: str | None) -> bool:
    """True once the batch will not change on its own; unknown statuses are not terminal."""
    return status in lifecycle.TERMINAL


def get_batch(client: OmicsClient, batch_id: str) -> dict[str, Any]:
    """The GetBatch response without the SDK's ResponseMetadata."""
    response: dict[str, Any] = client.get_batch(batchId=batch_id)
    response.pop("ResponseMetadata", None)
    return response


def batch_succeeded(batch: Mapping[str, Any]) -> bool:
    """Clean, judged from GetBatch's summary (final once PROCESSED): the tracker's rule, on its counts."""
    return outcome.is_clean(batch.get("status"), outcome.summary_counts(batch))
