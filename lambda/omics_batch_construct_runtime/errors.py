"""Errors the functions report, and the one place that calls the AWS APIs.

Shared by the deploy handler (run_batch) and the tracker. CloudFormation shows about 250
characters of a failure reason, so every message here leads with what matters
(operation, error code, batch id) and cuts the service's own text short. The deploy
handler's entry point appends where the log is.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
from botocore import xform_name

# A client whose type stubs are not bundled (boto3 has none for a vendored model).
OmicsClient = Any

NOT_FOUND = "ResourceNotFoundException"
CONFLICT = "ConflictException"

# Error codes that mean "try again later", not "this request is wrong". botocore has
# already retried them; a poller simply polls again.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeoutException",
        "RequestTimeout",
        "ConditionalRequestConflict",  # S3: a concurrent conditional write; try again
    }
)

SERVICE_MESSAGE_LIMIT = 160


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BatchError(Exception):
    """A failure worth showing as the CloudFormation reason: short, with the batch id."""


class PropertyError(BatchError):
    """A resource property the handler cannot turn into a valid request."""


class ApiError(BatchError):
    """A HealthOmics call that failed after botocore's own retries."""

    def __init__(
        self,
        operation: str,
        code: str,
        message: str,
        *,
        batch_id: str | None = None,
        http_status: int = 0,
    ) -> None:
        target = f" for batch {batch_id}" if batch_id else ""
        super().__init__(f"{operation} failed{target}: {code}: {shorten(message, SERVICE_MESSAGE_LIMIT)}")
        self.operation = operation
        self.code = code
        self.message = message  # the service's own words, whole
        self.batch_id = batch_id
        self.http_status = http_status

    @property
    def transient(self) -> bool:
        """Whether polling again later may succeed (throttling, 5xx, network)."""
        return self.code in _TRANSIENT_CODES or self.http_status == 429 or self.http_status >= 500


def call(client: OmicsClient, operation: str, batch_id: str | None = None, **params: Any) -> Any:
    """Call ``operation`` (its API name, e.g. "GetBatch") and turn failures into ApiError.

    One wrapper, so every failure names its operation and batch the same way, and
    callers decide on error codes rather than on botocore's exception classes.
    """
    method = getattr(client, xform_name(operation))
    try:
        return method(**params)
    except botocore.exceptions.ClientError as err:
        error = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        raise ApiError(
            operation,
            str(error.get("Code", "Unknown")),
            str(error.get("Message", "")),
            batch_id=batch_id,
            http_status=int(status or 0),
        ) from err
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as err:
        # Network trouble that outlived botocore's retries: as transient as a 503.
        raise ApiError(operation, type(err).__name__, str(err), batch_id=batch_id, http_status=503) from err


class RunBatchResourceError(Exception):
    """The one exception the entry points raise: its message is the CloudFormation reason."""


def failure_reason(err: Exception, log_group: str, log_stream: str) -> str:
    """A short reason for ``err`` that says where the full log is."""
    if isinstance(err, BatchError):
        text = str(err)
    else:  # a bug or an unforeseen botocore error: its type says more than its text
        text = f"{type(err).__name__}: {shorten(str(err), SERVICE_MESSAGE_LIMIT)}"
    return f"{text} (log: {log_group} {log_stream})"
