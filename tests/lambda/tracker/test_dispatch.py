"""The entry point: dispatch on the action, names shared with the state machine, logging."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from tracker_testkit import BATCH_ID, REPORT_URI, TOKEN, StubbedClient, batch, omics_event

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.clients import Clients
from tracker import index
from tracker.errors import BadEvent, BatchNotFound, Throttled


def test_error_names_are_the_ones_the_state_machine_handles() -> None:
    assert Throttled.__name__ == contract.TRACKER_ERROR_THROTTLED
    assert BatchNotFound.__name__ == contract.TRACKER_ERROR_BATCH_NOT_FOUND


def test_every_action_of_the_contract_has_a_handler() -> None:
    actions = {
        contract.TRACKER_ACTION_CHECK,
        contract.TRACKER_ACTION_PARK,
        contract.TRACKER_ACTION_RESUME,
        contract.TRACKER_ACTION_REPORT,
        contract.TRACKER_ACTION_CONTINUE,
        contract.TRACKER_ACTION_DELAYED,
    }
    assert set(index._ACTIONS) == actions


@pytest.mark.parametrize(
    ("event", "action"),
    [
        ({"action": "check", "batchId": "1"}, "check"),
        ({"action": "report", "batchId": "1"}, "report"),
        ({"detail-type": "RunBatch Status Change", "detail": {}}, "resume"),
        ({"action": "resume", "detail-type": "RunBatch Status Change"}, "resume"),
        ({}, ""),
    ],
)
def test_the_action_comes_from_the_event(event: dict[str, Any], action: str) -> None:
    assert index.action_of(event) == action


@pytest.mark.parametrize("event", [{}, {"action": "poll", "batchId": BATCH_ID}])
def test_an_unknown_action_is_refused(clients: Clients, event: dict[str, Any]) -> None:
    with pytest.raises(BadEvent, match="Unknown action"):
        index.handle(event, clients)


def test_a_resume_event_without_detail_is_refused(clients: Clients) -> None:
    with pytest.raises(BadEvent, match="no detail"):
        index.handle({"detail-type": "RunBatch Status Change"}, clients)


class Context:
    """The part of a Lambda context the tracker reads: it has its whole 15 minutes."""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def test_the_handler_makes_its_clients_once_per_container(
    omics: StubbedClient, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Clients] = []

    def given_clients() -> Clients:
        made.append(Clients(omics=omics.client, s3=s3))
        return made[-1]

    monkeypatch.setattr(index, "_clients", None)
    monkeypatch.setattr(index, "Clients", given_clients)
    omics.add("get_batch", batch("SUBMITTING"), {"batchId": BATCH_ID})
    omics.add("get_batch", batch("INPROGRESS"), {"batchId": BATCH_ID})
    config = {"parts": [{"settings": "[]"}], "reportUri": REPORT_URI, "start": "{}"}

    first = index.handler({"action": "check", "batchId": BATCH_ID, "config": config}, Context())
    second = index.handler(
        {"action": "check", "batchId": BATCH_ID, "cohort": first["cohort"], "config": config}, Context()
    )

    statuses = [b["status"] for result in (first, second) for b in result["cohort"]["batches"]]
    assert (statuses, len(made)) == (["SUBMITTING", "INPROGRESS"], 1)


def test_clients_are_made_on_first_use_only() -> None:
    clients = Clients(omics="given")

    assert clients.omics == "given"
    assert clients._clients == {"omics": "given"}
    with pytest.raises(TypeError, match="unknown clients"):
        Clients(dynamodb="no")


def test_the_logged_event_holds_neither_the_token_nor_the_runs(
    clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    index.handle({"action": "park", "batchId": BATCH_ID, "taskToken": TOKEN}, clients)
    inline = json.dumps([{"runSettingId": "secret-sample"}] * 3)
    logged = index.loggable({"action": "report", "config": {"parts": [{"settings": inline}], "reportUri": "s3://o/"}})

    assert TOKEN not in caplog.text
    assert logged == {
        "action": "report",
        "config": {"parts": [{"settings": f"<{len(inline)} characters of run settings>"}], "reportUri": "s3://o/"},
    }
    assert json.dumps(index.loggable(omics_event())) == json.dumps(omics_event())
