"""GetBatch for the tracker: a batch that vanished before it ended is ``BatchNotFound``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from omics_batch_construct_runtime import lifecycle
from omics_batch_construct_runtime.clients import Client

from .errors import BatchNotFound

logger = logging.getLogger(__name__)


def get_batch(omics: Client, batch_id: str) -> Mapping[str, Any]:
    """GetBatch, with a vanished batch reported as ``BatchNotFound`` and an unreadable one raised
    (transient: the state machine retries it)."""
    read = lifecycle.read_batch(omics, batch_id)
    if read.missing:
        raise BatchNotFound(f"Batch {batch_id} not found: deleted before it finished?")
    if read.error is not None:
        raise read.error
    return read.batch or {}
