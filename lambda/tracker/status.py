"""GetBatch for the tracker: a batch that vanished before it ended is ``BatchNotFound``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from omics_common.clients import Client
from omics_common.errors import NOT_FOUND, ApiError, call

from .errors import BatchNotFound

logger = logging.getLogger(__name__)


def get_batch(omics: Client, batch_id: str) -> Mapping[str, Any]:
    """GetBatch, with a vanished batch reported as ``BatchNotFound``."""
    try:
        batch: Mapping[str, Any] = call(omics, "GetBatch", batch_id, batchId=batch_id)
    except ApiError as err:
        if err.code == NOT_FOUND:
            raise BatchNotFound(f"Batch {batch_id} not found: deleted before it finished?") from err
        raise
    return batch
