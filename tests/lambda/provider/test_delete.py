"""Delete of an untracked batch: RETAIN by default; CANCEL_RUNS and DELETE_RUNS_AND_BATCH step by
step, every run that started reached (one by one where the batch-wide calls did not), within the hour.

Against the HealthOmics stand-in; a poll's time is given, so the hour is measured in its seconds.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from provider_testkit import FakeContext, cfn_properties, make_event

from omics_batch_construct_runtime import contract, lifecycle
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import RunBatchResourceError
from provider import index
from tests.standin.healthomics import HealthOmics

DEFAULT = {"workflowId": "9876543", "roleArn": "arn:aws:iam::123456789012:role/run"}


def batch_of(service: HealthOmics, status: str, runs: int = 3, name: str = "deploy") -> str:
    """A batch of ``runs`` runs (all COMPLETED) in ``status``."""
    settings = [{"runSettingId": f"s{i}"} for i in range(runs)]
    batch_id = str(
        service.StartRunBatch(
            {
                "requestId": f"{name}-{len(service.batches)}",
                "batchName": name,
                "defaultRunSetting": DEFAULT,
                "batchRunSettings": {"inlineSettings": settings},
            }
        )["id"]
    )
    service.finish(batch_id, status=status)
    return batch_id


class Delete:
    """A Delete as the Provider framework runs it: on_event, then is_complete polls (15 s apart)."""

    def __init__(self, client: Any, context: FakeContext, batch_id: str, on_delete: str | None) -> None:
        properties = cfn_properties() if on_delete is None else cfn_properties(OnDelete=on_delete)
        if on_delete is None:
            del properties["OnDelete"]
        self.event = make_event("Delete", properties, physical_id=batch_id)
        self.clients = Clients(omics=client)  # an untracked batch's delete needs nothing else
        self.context = context
        self.waiting: dict[str, Any] = {}

    def on_event(self) -> dict[str, Any]:
        result = dict(index.on_event(self.event, self.context, clients=self.clients))
        self.waiting = {**self.event, **result}
        return result

    def poll(self, after: float = 15.0) -> bool:
        started_at = float(self.waiting["Data"][contract.DATA_STARTED_AT])
        result = index.is_complete(self.waiting, self.context, self.clients, clock=lambda: started_at + after)
        assert set(result) == {"IsComplete"}
        return result["IsComplete"]


@pytest.mark.parametrize(
    "physical_id",
    ["AWSCDK::CustomResourceProviderFramework::CREATE_FAILED", "5f1c7e0a-1111-2222-3333-444455556666", "", "1" * 19],
)
def test_delete_of_something_that_is_no_batch_makes_no_call(
    service: HealthOmics, client: Any, context: FakeContext, physical_id: str
) -> None:
    delete = Delete(client, context, physical_id, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)

    assert delete.on_event()["PhysicalResourceId"] == physical_id
    assert delete.poll()
    assert service.names() == []


@pytest.mark.parametrize("on_delete", [None, contract.ON_DELETE_RETAIN])
def test_retain_makes_no_call(service: HealthOmics, client: Any, context: FakeContext, on_delete: str | None) -> None:
    batch_id = batch_of(service, "INPROGRESS")
    service.calls.clear()
    delete = Delete(client, context, batch_id, on_delete)

    delete.on_event()
    assert delete.poll()
    assert service.names() == []


def test_cancel_runs_full_sequence_of_an_untracked_batch_touches_nothing_but_healthomics(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    """No tracker, no manifest: the delete needs (and is granted) no S3 and no Step Functions."""
    batch_id = batch_of(service, "INPROGRESS")
    delete = Delete(client, context, batch_id, contract.ON_DELETE_CANCEL_RUNS)

    delete.on_event()
    assert service.batches[batch_id].status == "STOPPING"
    assert not delete.poll()
    service.set_status(batch_id, "CANCELLED")
    assert delete.poll()
    assert service.names().count("CancelRunBatch") == 1


def test_delete_runs_and_batch_full_sequence(service: HealthOmics, client: Any, context: FakeContext) -> None:
    batch_id = batch_of(service, "INPROGRESS")
    delete = Delete(client, context, batch_id, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)

    delete.on_event()  # CancelRunBatch
    service.set_status(batch_id, "CANCELLED")
    assert not delete.poll()  # DeleteRunBatch
    assert service.batches[batch_id].status == "RUNS_DELETING"
    service.set_status(batch_id, "RUNS_DELETED")
    assert not delete.poll()  # DeleteBatch
    assert delete.poll()  # gone
    assert service.names()[-1] == "GetBatch" and "DeleteBatch" in service.names()


@pytest.mark.parametrize("on_delete", [contract.ON_DELETE_CANCEL_RUNS, contract.ON_DELETE_DELETE_RUNS_AND_BATCH])
def test_the_runs_of_a_failed_batch_that_did_start_are_reached_one_by_one(
    service: HealthOmics, client: Any, context: FakeContext, on_delete: str
) -> None:
    """No batch-wide call reaches a FAILED batch's runs: each running one is cancelled (and, to
    delete, each ended one deleted) by itself."""
    batch_id = batch_of(service, "FAILED", runs=4)
    runs = service.batches[batch_id].runs
    runs[0].status, runs[1].status = "RUNNING", "PENDING"
    other = batch_of(service, "INPROGRESS", runs=1, name="someone-else")
    service.batches[other].runs[0].status = "RUNNING"
    delete = Delete(client, context, batch_id, on_delete)

    delete.on_event()
    assert [run.status for run in runs] == ["CANCELLED", "CANCELLED", "COMPLETED", "COMPLETED"]
    deleting = on_delete == contract.ON_DELETE_DELETE_RUNS_AND_BATCH
    while not delete.poll():
        pass

    assert service.batches[other].runs[0].status == "RUNNING"  # another batch's run is never touched
    if deleting:
        assert all(run.deleted for run in runs) and service.batches[batch_id].deleted
    else:
        assert not any(run.deleted for run in runs) and not service.batches[batch_id].deleted
    assert service.names().count("CancelRun") == 2


def test_runs_a_batch_wide_cancel_missed_are_cancelled_one_by_one(
    service: HealthOmics, client: Any, context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    batch_id = batch_of(service, "INPROGRESS", runs=3)
    delete = Delete(client, context, batch_id, contract.ON_DELETE_CANCEL_RUNS)
    delete.on_event()
    batch = service.batches[batch_id]
    batch.status, batch.failed_cancels = "CANCELLED", 1  # the service could not cancel one run
    batch.runs[2].status = "RUNNING"

    with caplog.at_level(logging.WARNING):
        assert not delete.poll()  # CancelRun asked
    assert batch.runs[2].status == "CANCELLED"
    assert "could not cancel 1 runs (failedCancelSubmissionCount)" in caplog.text
    assert delete.poll()


def test_runs_a_batch_wide_delete_could_not_delete_are_deleted_one_by_one(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    batch_id = batch_of(service, "RUNS_DELETE_FAILED", runs=2)
    delete = Delete(client, context, batch_id, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)

    delete.on_event()  # DeleteRun of each
    assert not delete.poll()  # none left: DeleteBatch
    assert delete.poll()  # gone
    assert service.names().count("DeleteRun") == 2 and service.batches[batch_id].deleted


@pytest.mark.parametrize("on_delete", [contract.ON_DELETE_CANCEL_RUNS, contract.ON_DELETE_DELETE_RUNS_AND_BATCH])
def test_unknown_status_and_throttling_mean_wait(
    service: HealthOmics, client: Any, context: FakeContext, on_delete: str
) -> None:
    batch_id = batch_of(service, "A_STATUS_FROM_THE_FUTURE")
    delete = Delete(client, context, batch_id, on_delete)
    delete.on_event()
    service.fail("GetBatch", "ThrottlingException", 429)

    assert not delete.poll()
    assert not delete.poll()


def test_access_denied_on_cancel_fails_with_operation_and_batch(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    batch_id = batch_of(service, "INPROGRESS")
    service.fail("CancelRunBatch", "AccessDeniedException", 403, message="not authorized to omics:CancelRunBatch")

    with pytest.raises(
        RunBatchResourceError, match=f"^CancelRunBatch failed for batch {batch_id}: AccessDeniedException: not auth"
    ):
        Delete(client, context, batch_id, contract.ON_DELETE_CANCEL_RUNS).on_event()


def test_unknown_on_delete_fails_the_delete(service: HealthOmics, client: Any, context: FakeContext) -> None:
    with pytest.raises(RunBatchResourceError, match="OnDelete 'SHRED' is not one of"):
        Delete(client, context, batch_of(service, "INPROGRESS"), "SHRED").on_event()


def test_a_delete_finishes_within_the_hour_and_says_what_is_left(
    service: HealthOmics, client: Any, context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch that takes longer to stop than the custom resource may wait: the delete completes
    with the work requested, and the log names what is left and the command that finishes it."""
    batch_id = batch_of(service, "INPROGRESS")
    delete = Delete(client, context, batch_id, contract.ON_DELETE_CANCEL_RUNS)
    delete.on_event()  # STOPPING, and it stays so

    assert not delete.poll(after=contract.DELETE_BUDGET_SECONDS - 15)
    with caplog.at_level(logging.WARNING):
        assert delete.poll(after=contract.DELETE_BUDGET_SECONDS)

    assert f"batch {batch_id}: STOPPING" in caplog.text
    assert f"Finish it with: omics-batch cancel --yes {batch_id}" in caplog.text
    assert contract.DELETE_BUDGET_SECONDS + 120 < contract.MAX_DEPLOY_WAIT_SECONDS  # room for the last polls


EXPECTED_STEPS = {
    # status: (CANCEL_RUNS, DELETE_RUNS_AND_BATCH)
    "CREATING": (lifecycle.DeleteStep.WAIT, lifecycle.DeleteStep.WAIT),
    "PENDING": (lifecycle.DeleteStep.CANCEL, lifecycle.DeleteStep.CANCEL),
    "SUBMITTING": (lifecycle.DeleteStep.CANCEL, lifecycle.DeleteStep.CANCEL),
    "INPROGRESS": (lifecycle.DeleteStep.CANCEL, lifecycle.DeleteStep.CANCEL),
    "STOPPING": (lifecycle.DeleteStep.WAIT, lifecycle.DeleteStep.WAIT),
    "RUNS_DELETING": (lifecycle.DeleteStep.WAIT, lifecycle.DeleteStep.WAIT),
    "CANCELLED": (lifecycle.DeleteStep.DONE, lifecycle.DeleteStep.DELETE_RUNS),
    "PROCESSED": (lifecycle.DeleteStep.DONE, lifecycle.DeleteStep.DELETE_RUNS),
    "FAILED": (lifecycle.DeleteStep.CANCEL_EACH, lifecycle.DeleteStep.DELETE_EACH),
    "RUNS_DELETED": (lifecycle.DeleteStep.DONE, lifecycle.DeleteStep.DELETE_BATCH),
    "RUNS_DELETE_FAILED": (lifecycle.DeleteStep.DONE, lifecycle.DeleteStep.DELETE_EACH),
    "A_STATUS_FROM_THE_FUTURE": (lifecycle.DeleteStep.WAIT, lifecycle.DeleteStep.WAIT),
}


@pytest.mark.parametrize(("status", "expected"), EXPECTED_STEPS.items())
def test_next_delete_step(status: str, expected: tuple[lifecycle.DeleteStep, lifecycle.DeleteStep]) -> None:
    policies = (contract.ON_DELETE_CANCEL_RUNS, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)

    assert tuple(lifecycle.next_delete_step({"status": status}, policy) for policy in policies) == expected


def test_runs_a_cancel_missed_are_cancelled_one_by_one_and_those_a_delete_missed_deleted() -> None:
    """One missed cancel does not turn a batch-wide delete of 100,000 runs into 100,000 DeleteRuns."""
    missed_cancel = {"status": "CANCELLED", "submissionSummary": {"failedCancelSubmissionCount": 2}}
    missed_delete = {"status": "RUNS_DELETED", "submissionSummary": {"failedDeleteSubmissionCount": 1}}
    cancel, delete = contract.ON_DELETE_CANCEL_RUNS, contract.ON_DELETE_DELETE_RUNS_AND_BATCH

    assert lifecycle.next_delete_step(missed_cancel, cancel) is lifecycle.DeleteStep.CANCEL_EACH
    assert lifecycle.next_delete_step(missed_cancel, delete) is lifecycle.DeleteStep.CANCEL_EACH
    assert lifecycle.next_delete_step(missed_delete, delete) is lifecycle.DeleteStep.DELETE_EACH


def test_after_the_missed_cancels_the_batch_wide_delete_goes_on(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    batch_id = batch_of(service, "INPROGRESS", runs=3)
    delete = Delete(client, context, batch_id, contract.ON_DELETE_DELETE_RUNS_AND_BATCH)
    delete.on_event()  # CancelRunBatch
    batch = service.batches[batch_id]
    batch.status, batch.failed_cancels = "CANCELLED", 1
    batch.runs[0].status = "RUNNING"

    assert not delete.poll()  # CancelRun of the one
    assert (batch.runs[0].status, batch.status) == ("CANCELLED", "CANCELLED")
    assert not delete.poll()  # none left to cancel: DeleteRunBatch
    assert batch.status == "RUNS_DELETING"
    assert service.names().count("DeleteRun") == 0


def test_a_refusal_that_may_pass_is_polled_again_until_the_hour(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    batch_id = batch_of(service, "INPROGRESS")
    delete = Delete(client, context, batch_id, contract.ON_DELETE_CANCEL_RUNS)
    service.fail("GetBatch", "ThrottlingException", 429, times=100)
    service.fail("CancelRunBatch", "ValidationException", 400)  # moved on since it was read: not now

    delete.on_event()
    assert not delete.poll()
    service.faults.clear()
    assert not delete.poll()  # read, and cancelled now
    service.set_status(batch_id, "CANCELLED")
    assert delete.poll()


def test_the_step_table_covers_every_known_status() -> None:
    assert lifecycle.KNOWN <= EXPECTED_STEPS.keys()
