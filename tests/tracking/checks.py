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


class TrackedCohort:
    """A test's cohort as the state machine tracks it: its clients, first batch and configuration
    (set by the test's own class), and the state its checks carry."""

    clients: Clients
    first: str
    config: dict[str, Any]
    state: Any = None

    def check(self) -> dict[str, Any]:
        """Checks as the state machine makes them: again at once while a check says so."""
        result = run_checks(self.clients, {"batchId": self.first, "cohort": self.state, "config": self.config})
        self.state = result["cohort"]
        return result

    def report(self) -> dict[str, Any]:
        event = {"action": "report", "batchId": self.first, "cohort": self.state, "config": self.config}
        return dict(handle(event, self.clients))
