"""``park`` and ``resume``: the execution waits on a token that the status event sends back."""

from __future__ import annotations

import json
import logging

import pytest
from tracker_testkit import (
    BATCH_ID,
    EXECUTION_ARN,
    STATE_MACHINE_ARN,
    TOKEN,
    StubbedClient,
    check_scheduled,
    history_event,
    history_params,
    omics_event,
    park_scheduled,
)

from omics_common.clients import Clients
from omics_common.errors import ApiError
from tracker.errors import BadEvent, Throttled
from tracker.index import handle
from tracker.waiting import execution_arn, open_wait_token

SEND = {"taskToken": TOKEN, "output": json.dumps({"status": "PROCESSED"})}


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


def test_the_execution_arn_follows_the_state_machine_arn() -> None:
    machine = "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:Tracker"

    assert execution_arn(STATE_MACHINE_ARN, BATCH_ID) == EXECUTION_ARN
    assert execution_arn(machine, "42") == "arn:aws-cn:states:cn-north-1:123456789012:execution:Tracker:batch-42"
    with pytest.raises(BadEvent, match="Not a state machine ARN"):
        execution_arn("arn:aws:lambda:us-east-1:123456789012:function:f", "42")


# --- resume ------------------------------------------------------------------------------


def test_resume_finds_the_open_wait_on_a_later_history_page(sfn: StubbedClient, clients: Clients) -> None:
    first_page = [history_event("TaskSubmitted", 12), history_event("TaskStarted", 11)]
    second_page = [park_scheduled(10), history_event("TaskStateEntered", 9), history_event("TaskSucceeded", 7)]
    sfn.add("get_execution_history", {"events": first_page, "nextToken": "page-2"}, history_params())
    sfn.add("get_execution_history", {"events": second_page, "nextToken": "page-3"}, history_params("page-2"))
    sfn.add("send_task_success", {}, SEND)

    result = handle(omics_event("PROCESSED"), clients)

    assert result == {"resumed": True, "batchId": BATCH_ID, "status": "PROCESSED", "reason": "resumed"}


def test_resume_sends_nothing_when_the_wait_is_already_over(sfn: StubbedClient, clients: Clients) -> None:
    events = [history_event("TaskStateExited", 13), history_event("TaskSucceeded", 12), park_scheduled(10)]
    sfn.add("get_execution_history", {"events": events, "nextToken": "more"}, history_params())

    result = handle(omics_event("FAILED"), clients)

    assert result["resumed"] is False
    assert "no wait is open" in result["reason"]  # and no SendTaskSuccess: the Stubber has none queued


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_stale_token_is_logged_and_ignored(
    sfn: StubbedClient, clients: Clients, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sfn.add("get_execution_history", {"events": [park_scheduled(10)]}, history_params())
    sfn.error("send_task_success", code, 400, SEND)

    result = handle(omics_event("PROCESSED"), clients)

    assert (result["resumed"], code in result["reason"]) == (False, True)
    assert TOKEN not in caplog.text


def test_an_execution_that_does_not_exist_is_ignored(sfn: StubbedClient, clients: Clients) -> None:
    sfn.error("get_execution_history", "ExecutionDoesNotExist", 400, history_params())

    result = handle(omics_event("CANCELLED"), clients)

    assert result == {
        "resumed": False,
        "batchId": BATCH_ID,
        "status": "CANCELLED",
        "reason": f"no execution {EXECUTION_ARN}",
    }


def test_a_status_that_is_not_terminal_is_ignored_without_a_call(clients: Clients) -> None:
    result = handle(omics_event("INPROGRESS"), clients)

    assert result["resumed"] is False and "not terminal" in result["reason"]


def test_without_a_state_machine_resume_is_refused(clients: Clients) -> None:
    event = omics_event("PROCESSED")
    del event["stateMachineArn"]

    with pytest.raises(BadEvent, match="no stateMachineArn"):
        handle(event, clients)


def test_throttled_history_raises_throttled(sfn: StubbedClient, clients: Clients) -> None:
    sfn.error("get_execution_history", "ThrottlingException", 400, history_params())

    with pytest.raises(Throttled, match="GetExecutionHistory failed"):
        handle(omics_event("PROCESSED"), clients)


def test_other_send_failures_propagate(sfn: StubbedClient, clients: Clients) -> None:
    sfn.add("get_execution_history", {"events": [park_scheduled(10)]}, history_params())
    sfn.error("send_task_success", "KmsAccessDeniedException", 400, SEND)

    with pytest.raises(ApiError, match="SendTaskSuccess failed for batch"):
        handle(omics_event("PROCESSED"), clients)
