"""Delete: RETAIN by default; CANCEL_RUNS and DELETE_RUNS_AND_BATCH step by step."""

from __future__ import annotations

from typing import Any

import pytest
from provider_testkit import BATCH_ID, FakeContext, StubbedOmics, cfn_properties, is_complete_event, make_event

from omics_common import contract
from omics_common.clients import Clients
from omics_common.errors import RunBatchResourceError
from provider import batch, index
from provider.batch import DeleteStep, next_delete_step


class DeleteDriver:
    """Runs a Delete the way the Provider framework does: on_event, then is_complete polls."""

    def __init__(self, omics: StubbedOmics, context: FakeContext, on_delete: str | None) -> None:
        properties = cfn_properties() if on_delete is None else cfn_properties(OnDelete=on_delete)
        if on_delete is None:
            del properties["OnDelete"]
        self.event = make_event("Delete", properties, physical_id=BATCH_ID)
        self.omics = omics
        self.context = context

    def on_event(self) -> dict[str, Any]:
        return dict(index.on_event(self.event, self.context, clients=Clients(omics=self.omics.client)))

    def poll(self) -> bool:
        waiting = is_complete_event(self.event, {"PhysicalResourceId": BATCH_ID})
        result = index.is_complete(waiting, self.context, clients=Clients(omics=self.omics.client))
        assert set(result) == {"IsComplete"}
        return result["IsComplete"]


@pytest.mark.parametrize(
    "physical_id",
    ["AWSCDK::CustomResourceProviderFramework::CREATE_FAILED", "5f1c7e0a-1111-2222-3333-444455556666", "", "1" * 19],
)
def test_delete_of_something_that_is_no_batch_makes_no_call(
    omics: StubbedOmics, context: FakeContext, physical_id: str
) -> None:
    event = make_event("Delete", cfn_properties(OnDelete="DELETE_RUNS_AND_BATCH"), physical_id=physical_id)

    assert index.on_event(event, context, clients=Clients(omics=omics.client)) == {"PhysicalResourceId": physical_id}
    assert index.is_complete(event, context, clients=Clients(omics=omics.client)) == {"IsComplete": True}


@pytest.mark.parametrize("on_delete", [None, contract.ON_DELETE_RETAIN])
def test_retain_makes_no_call(omics: StubbedOmics, context: FakeContext, on_delete: str | None) -> None:
    delete = DeleteDriver(omics, context, on_delete)

    assert delete.on_event() == {"PhysicalResourceId": BATCH_ID}
    assert delete.poll() is True


def test_cancel_runs_full_sequence(omics: StubbedOmics, context: FakeContext) -> None:
    delete = DeleteDriver(omics, context, contract.ON_DELETE_CANCEL_RUNS)
    # on_event: still validating, nothing to cancel yet
    omics.get("CREATING")
    # poll 1: validated and submitting -> cancel
    omics.get("SUBMITTING")
    omics.accept("cancel_run_batch")
    # poll 2: the cancel is not visible yet, a second cancel conflicts with it -> wait
    omics.get("INPROGRESS")
    omics.error("cancel_run_batch", "ConflictException", http_status=409)
    # poll 3: stopping -> wait; poll 4: cancelled -> done
    omics.get("STOPPING")
    omics.get("CANCELLED")

    assert delete.on_event() == {"PhysicalResourceId": BATCH_ID}
    assert [delete.poll() for _ in range(4)] == [False, False, False, True]


@pytest.mark.parametrize("status", ["PROCESSED", "FAILED", "RUNS_DELETED", "RUNS_DELETE_FAILED"])
def test_cancel_runs_of_a_finished_batch_is_done_at_once(
    omics: StubbedOmics, context: FakeContext, status: str
) -> None:
    delete = DeleteDriver(omics, context, contract.ON_DELETE_CANCEL_RUNS)
    omics.get(status)
    omics.get(status)

    delete.on_event()
    assert delete.poll() is True


def test_delete_runs_and_batch_full_sequence(omics: StubbedOmics, context: FakeContext) -> None:
    delete = DeleteDriver(omics, context, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)
    # on_event: running -> cancel first
    omics.get("INPROGRESS")
    omics.accept("cancel_run_batch")
    steps = [
        ("STOPPING", None),
        ("CANCELLED", ("delete_run_batch", "ConflictException")),  # the cancel still settling
        ("CANCELLED", ("delete_run_batch", None)),
        ("RUNS_DELETING", None),
        ("RUNS_DELETED", ("delete_batch", None)),
    ]
    for status, request in steps:
        omics.get(status)
        if request is not None:
            method, error = request
            if error:
                omics.error(method, error, http_status=409)
            else:
                omics.accept(method)
    omics.error("get_batch", "ResourceNotFoundException", http_status=404)  # deleted: done

    assert delete.on_event() == {"PhysicalResourceId": BATCH_ID}
    assert [delete.poll() for _ in range(len(steps) + 1)] == [False] * len(steps) + [True]


def test_delete_runs_and_batch_of_a_failed_batch_deletes_the_batch(omics: StubbedOmics, context: FakeContext) -> None:
    delete = DeleteDriver(omics, context, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)
    omics.get("FAILED")
    omics.accept("delete_batch")
    omics.error("get_batch", "ResourceNotFoundException", http_status=404)

    delete.on_event()
    assert delete.poll() is True


def test_runs_that_could_not_be_deleted_fail_the_delete(omics: StubbedOmics, context: FakeContext) -> None:
    delete = DeleteDriver(omics, context, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)
    omics.get("RUNS_DELETING")
    omics.get("RUNS_DELETE_FAILED")

    delete.on_event()
    with pytest.raises(RunBatchResourceError) as raised:
        delete.poll()

    reason = str(raised.value)
    assert reason.startswith(f"Batch {BATCH_ID} is RUNS_DELETE_FAILED: HealthOmics could not delete its runs")
    assert "RETAIN" in reason and context.log_stream_name in reason


@pytest.mark.parametrize("on_delete", [contract.ON_DELETE_CANCEL_RUNS, contract.ON_DELETE_DELETE_RUNS_AND_BATCH])
def test_unknown_status_and_throttling_mean_wait(omics: StubbedOmics, context: FakeContext, on_delete: str) -> None:
    delete = DeleteDriver(omics, context, on_delete)
    omics.get("SOMETHING_NEW")
    omics.error("get_batch", "ThrottlingException", http_status=429)
    omics.get("PENDING")
    omics.error("cancel_run_batch", "ThrottlingException", http_status=429)

    delete.on_event()
    assert [delete.poll(), delete.poll()] == [False, False]


def test_access_denied_on_cancel_fails_with_operation_and_batch(omics: StubbedOmics, context: FakeContext) -> None:
    delete = DeleteDriver(omics, context, contract.ON_DELETE_CANCEL_RUNS)
    omics.get("INPROGRESS")
    omics.error("cancel_run_batch", "AccessDeniedException", http_status=403, message="no omics:CancelRunBatch")

    with pytest.raises(
        RunBatchResourceError,
        match=rf"^CancelRunBatch failed for batch {BATCH_ID}: AccessDeniedException: no omics:CancelRunBatch",
    ):
        delete.on_event()


def test_unknown_on_delete_fails_the_delete(omics: StubbedOmics, context: FakeContext) -> None:
    event = make_event("Delete", cfn_properties(OnDelete="SHRED"), physical_id=BATCH_ID)

    with pytest.raises(RunBatchResourceError, match="OnDelete 'SHRED' is not one of"):
        index.on_event(event, context, clients=Clients(omics=omics.client))


EXPECTED_STEPS = {
    # status: (CANCEL_RUNS, DELETE_RUNS_AND_BATCH)
    "CREATING": (DeleteStep.WAIT, DeleteStep.WAIT),
    "PENDING": (DeleteStep.CANCEL, DeleteStep.CANCEL),
    "SUBMITTING": (DeleteStep.CANCEL, DeleteStep.CANCEL),
    "INPROGRESS": (DeleteStep.CANCEL, DeleteStep.CANCEL),
    "STOPPING": (DeleteStep.WAIT, DeleteStep.WAIT),
    "RUNS_DELETING": (DeleteStep.WAIT, DeleteStep.WAIT),
    "CANCELLED": (DeleteStep.DONE, DeleteStep.DELETE_RUNS),
    "PROCESSED": (DeleteStep.DONE, DeleteStep.DELETE_RUNS),
    "FAILED": (DeleteStep.DONE, DeleteStep.DELETE_BATCH),
    "RUNS_DELETED": (DeleteStep.DONE, DeleteStep.DELETE_BATCH),
    "RUNS_DELETE_FAILED": (DeleteStep.DONE, DeleteStep.FAIL),
    "A_STATUS_FROM_THE_FUTURE": (DeleteStep.WAIT, DeleteStep.WAIT),
}


@pytest.mark.parametrize(("status", "expected"), EXPECTED_STEPS.items())
def test_next_delete_step(status: str, expected: tuple[DeleteStep, DeleteStep]) -> None:
    policies = (contract.ON_DELETE_CANCEL_RUNS, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)

    assert tuple(next_delete_step(status, policy) for policy in policies) == expected


def test_the_step_table_covers_every_known_status() -> None:
    assert batch.KNOWN_STATUSES <= EXPECTED_STEPS.keys()
