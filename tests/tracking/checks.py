"""The tracking state machine's ``Check`` loop, for tests that drive the tracker without it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from omics_batch_construct_runtime.clients import Clients
from tracker.index import handle

MAX_CHECKS = 10


def run_checks(clients: Clients, event: Mapping[str, Any]) -> dict[str, Any]:
    """Check actions as the state machine makes them: again at once, with the state the last one
    returned, while a check says so; the last check's result."""
    state = event.get("cohort")
    for _ in range(MAX_CHECKS):
        result = dict(handle({**event, "action": "check", "cohort": state}, clients))
        json.dumps(result)  # what the state machine carries must be JSON
        if not result["again"]:
            return result
        state = result["cohort"]
    raise AssertionError("the checks did not come to rest")
