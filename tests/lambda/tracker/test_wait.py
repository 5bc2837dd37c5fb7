"""``park`` and ``resume``: the execution waits on a token that the status event sends back."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from tracker_testkit import (
    BATCH_ID,
    EXECUTION_ARN,
    STATE_MACHINE_ARN,
    T0,
    TOKEN,
    StubbedClient,
    check_scheduled,
    history_event,
    history_params,
    omics_event,
    park_scheduled,
)

from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import ApiError
from tracker.cohort import State
from tracker.errors import BadEvent, Throttled
from tracker.index import handle
from tracker.waiting import carry_on, open_wait_token

SEND = {"taskToken": TOKEN, "output": json.dumps({"status": "PROCESSED"})}
LIST = {"stateMachineArn": STATE_MACHINE_ARN, "statusFilter": "RUNNING", "maxResults": 100}


def running(*names: str, next_token: str | None = None) -> dict[str, Any]:
    """A ListExecutions page of running executions with these names."""
    prefix = EXECUTION_ARN.rsplit(":", 1)[0]
    page: dict[str, Any] = {
        "executions": [
            {
                "executionArn": f"{prefix}:{name}",
                "stateMachineArn": STATE_MACHINE_ARN,
                "name": name,
                "status": "RUNNING",
                "startDate": T0,
            }
            for name in names
        ]
    }
    if next_token:
        page["nextToken"] = next_token
    return page


def expect_cohort_execution(sfn: StubbedClient) -> None:
    """The cohort's execution, found among the machine's running ones (another cohort's beside it)."""
    sfn.add("list_executions", running("batch-99", next_token="more"), LIST)
    sfn.add("list_executions", running(f"batch-{BATCH_ID}"), {**LIST, "nextToken": "more"})


# --- park --------------------------------------------------------------------------------


def test_park_returns_at_once_and_logs_no_more_than_the_token_prefix(
    clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    result = handle({"action": "park", "batchId": BATCH_ID, "taskToken": TOKEN}, clients)

    assert result == {}
    assert TOKEN[:12] in caplog.text
    assert TOKEN[:13] not in caplog.text


# --- finding the open wait ---------------------------------------------------------------


def test_the_newest_scheduled_park_is_the_open_wait() -> None:
    events = [history_event("TaskStarted", 9), park_scheduled(8, "new"), history_event("TaskTimedOut", 7)]
    events.append(park_scheduled(6, "old"))

    assert open_wait_token(events) == "new"


@pytest.mark.parametrize("closing", ["TaskSucceeded", "TaskFailed", "TaskTimedOut", "ExecutionAborted"])
def test_a_closed_task_or_execution_means_no_wait_is_open(closing: str) -> None:
    assert open_wait_token([history_event(closing, 9), park_scheduled(8)]) is None


def test_a_check_under_way_is_not_a_wait() -> None:
    assert open_wait_token([history_event("TaskStarted", 9), check_scheduled(8), park_scheduled(4)]) is None


def test_a_continuation_of_the_cohort_is_its_execution_too(sfn: StubbedClient, clients: Clients) -> None:
    sfn.add("list_executions", running(f"batch-{BATCH_ID}0", f"batch-{BATCH_ID}-2"), LIST)  # another id; ours
    continued = f"{EXECUTION_ARN}-2"
    sfn.add("get_execution_history", {"events": [park_scheduled(10)]}, {**history_params(), "executionArn": continued})
    sfn.add("send_task_success", {}, SEND)

    assert handle(omics_event("PROCESSED"), clients)["resumed"] is True


# --- resume ------------------------------------------------------------------------------


def test_resume_finds_the_open_wait_on_a_later_history_page(sfn: StubbedClient, clients: Clients) -> None:
    first_page = [history_event("TaskSubmitted", 12), history_event("TaskStarted", 11)]
    second_page = [park_scheduled(10), history_event("TaskStateEntered", 9), history_event("TaskSucceeded", 7)]
    expect_cohort_execution(sfn)
    sfn.add("get_execution_history", {"events": first_page, "nextToken": "page-2"}, history_params())
    sfn.add("get_execution_history", {"events": second_page, "nextToken": "page-3"}, history_params("page-2"))
    sfn.add("send_task_success", {}, SEND)

    result = handle(omics_event("PROCESSED"), clients)

    assert result == {"resumed": True, "batchId": BATCH_ID, "status": "PROCESSED", "reason": "resumed"}


def test_resume_sends_nothing_when_the_wait_is_already_over(sfn: StubbedClient, clients: Clients) -> None:
    events = [history_event("TaskStateExited", 13), history_event("TaskSucceeded", 12), park_scheduled(10)]
    expect_cohort_execution(sfn)
    sfn.add("get_execution_history", {"events": events, "nextToken": "more"}, history_params())

    result = handle(omics_event("FAILED"), clients)

    assert result["resumed"] is False
    assert "no wait is open" in result["reason"]  # and no SendTaskSuccess: the Stubber has none queued


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_stale_token_is_logged_and_ignored(
    sfn: StubbedClient, clients: Clients, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    expect_cohort_execution(sfn)
    sfn.add("get_execution_history", {"events": [park_scheduled(10)]}, history_params())
    sfn.error("send_task_success", code, 400, SEND)

    result = handle(omics_event("PROCESSED"), clients)

    assert (result["resumed"], code in result["reason"]) == (False, True)
    assert TOKEN not in caplog.text


def test_a_cohort_without_a_running_execution_is_ignored(sfn: StubbedClient, clients: Clients) -> None:
    sfn.add("list_executions", running(), LIST)

    result = handle(omics_event("CANCELLED"), clients)

    assert result == {
        "resumed": False,
        "batchId": BATCH_ID,
        "status": "CANCELLED",
        "reason": f"no running execution of cohort {BATCH_ID}",
    }


def test_a_batch_of_the_cohort_the_tracker_started_wakes_the_cohorts_execution(
    sfn: StubbedClient, clients: Clients
) -> None:
    """The rule names the cohort (its first batch); the event is about a later batch."""
    event = omics_event("INPROGRESS")  # submitted all its runs: the next part may start
    event["detail"]["batchId"] = "7000001"
    expect_cohort_execution(sfn)
    sfn.add("get_execution_history", {"events": [park_scheduled(10)]}, history_params())
    sfn.add("send_task_success", {}, {**SEND, "output": json.dumps({"status": "INPROGRESS"})})

    result = handle({**event, "cohortBatchId": BATCH_ID}, clients)

    assert result == {"resumed": True, "batchId": "7000001", "status": "INPROGRESS", "reason": "resumed"}


@pytest.mark.parametrize("status", ["PENDING", "SUBMITTING", "STOPPING", "ARCHIVING"])
def test_a_status_that_wakes_nothing_is_ignored_without_a_call(clients: Clients, status: str) -> None:
    result = handle(omics_event(status), clients)

    assert result["resumed"] is False and "wakes nothing" in result["reason"]


def test_without_a_state_machine_resume_is_refused(clients: Clients) -> None:
    event = omics_event("PROCESSED")
    del event["stateMachineArn"]

    with pytest.raises(BadEvent, match="no stateMachineArn"):
        handle(event, clients)


def test_throttled_history_raises_throttled(sfn: StubbedClient, clients: Clients) -> None:
    expect_cohort_execution(sfn)
    sfn.error("get_execution_history", "ThrottlingException", 400, history_params())

    with pytest.raises(Throttled, match="GetExecutionHistory failed"):
        handle(omics_event("PROCESSED"), clients)


def test_other_send_failures_propagate(sfn: StubbedClient, clients: Clients) -> None:
    expect_cohort_execution(sfn)
    sfn.add("get_execution_history", {"events": [park_scheduled(10)]}, history_params())
    sfn.error("send_task_success", "KmsAccessDeniedException", 400, SEND)

    with pytest.raises(ApiError, match="SendTaskSuccess failed for batch"):
        handle(omics_event("PROCESSED"), clients)


# --- carrying on in a fresh execution ---------------------------------------------------------


@pytest.mark.parametrize("already", [False, True], ids=["started", "a retried task finds it started"])
@pytest.mark.parametrize(
    ("current", "following"),
    [("batch-{id}", "batch-{id}-1"), ("batch-{id}-1", "batch-{id}-2"), ("batch-{id}-r2-4", "batch-{id}-r2-5")],
)
def test_a_fresh_execution_carries_the_cohort_on_in_its_lineage(
    sfn: StubbedClient, clients: Clients, already: bool, current: str, following: str
) -> None:
    state = State.of(None, BATCH_ID)
    state.checks = 500
    name = following.format(id=BATCH_ID)
    expected = {
        "stateMachineArn": STATE_MACHINE_ARN,
        "name": name,
        "input": json.dumps({"batchId": BATCH_ID, "check": {"cohort": {**state.to_json(), "continuation": 1}}}),
    }
    if already:
        sfn.error("start_execution", "ExecutionAlreadyExists", 400, expected)
    else:
        sfn.add("start_execution", {"executionArn": f"{EXECUTION_ARN}-1", "startDate": T0}, expected)

    own = current.format(id=BATCH_ID)
    assert carry_on(sfn.client, STATE_MACHINE_ARN, BATCH_ID, own, state) == {"continuedAs": name}
