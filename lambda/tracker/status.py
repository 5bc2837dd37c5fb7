"""``check``: the batch's status, for the state machine's Choice.

A status this release does not know passes through unchanged: the state machine treats
anything outside ``contract.TERMINAL_STATUSES`` as "not finished yet".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypedDict

from omics_common.clients import Client
from omics_common.errors import NOT_FOUND, ApiError, call

from .errors import BatchNotFound

logger = logging.getLogger(__name__)


class CheckResult(TypedDict):
    """What ``check`` returns to the state machine (``$.check.status``)."""

    status: str


def get_batch(omics: Client, batch_id: str) -> Mapping[str, Any]:
    """GetBatch, with a vanished batch reported as ``BatchNotFound``."""
    try:
        batch: Mapping[str, Any] = call(omics, "GetBatch", batch_id, batchId=batch_id)
    except ApiError as err:
        if err.code == NOT_FOUND:
            raise BatchNotFound(f"Batch {batch_id} not found: deleted before it finished?") from err
        raise
    return batch


def check(omics: Client, batch_id: str) -> CheckResult:
    """The batch's status."""
    status = str(get_batch(omics, batch_id).get("status", ""))
    logger.info("Batch %s is %s", batch_id, status)
    return {"status": status}
