"""The errors the tracker raises on purpose, named for the state machine.

A Lambda function's exception class name becomes the Step Functions error name, so the
names here are the contract: ``Throttled`` is retried with backoff, ``BatchNotFound``
is caught. Everything else fails the task with a short message. HealthOmics and the
other AWS calls go through ``omics_batch_construct_runtime.errors.call`` (shared with the deploy handler),
which turns botocore's failures into ``ApiError`` with the operation and batch id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from omics_batch_construct_runtime.errors import ApiError

TOKEN_PREFIX_LENGTH = 12


class TrackerError(Exception):
    """A failure the tracker diagnosed itself: a short message naming the batch."""


class BadEvent(TrackerError):
    """An event this function cannot act on (a wiring mistake, not a service failure)."""


class BatchNotFound(TrackerError):
    """GetBatch answered ResourceNotFoundException: the batch was deleted before it ended."""


class Throttled(TrackerError):
    """Throttling, a 5xx or a network failure that outlived botocore's retries: try later."""


@contextmanager
def transient_as_throttled() -> Iterator[None]:
    """Let a transient ApiError leave as ``Throttled``, the one name the state machine retries."""
    try:
        yield
    except ApiError as err:
        if err.transient:
            raise Throttled(str(err)) from err
        raise


def token_hint(token: object) -> str:
    """A task token fit for a log line: its first characters only.

    A task token is a bearer credential for the execution, so it is never logged whole.
    """
    text = str(token or "")
    return f"{text[:TOKEN_PREFIX_LENGTH]}..." if text else "<none>"
