"""Deploying again: one batch per definition, whatever happens around the deploy.

Against the HealthOmics stand-in (tests/standin), which remembers its batches, answers a repeated
requestId with the batch it already has (unless told to forget), lists batches by name, and fails
the calls a test asks it to. Each deploy runs as the Provider framework runs it: on_event, then
is_complete until it is complete, with the framework's merge of the two answers; a poll's time is
given as seconds after on_event.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from provider_testkit import ACCOUNT, STACK_ID, FakeContext, cfn_properties, make_event

from omics_batch_construct_runtime import contract, lifecycle
from omics_batch_construct_runtime.clients import Clients
from omics_batch_construct_runtime.errors import RunBatchResourceError
from provider import index
from tests.standin.healthomics import HealthOmics

TRANSIENT = "There was a transient error in the service. Retry the batch."
HOUR = 3600.0
MINUTE = 60.0


@pytest.fixture
def clients(client: Any, quotas_api: Any, quotas: Any) -> Clients:
    return Clients(omics=client, servicequotas=quotas_api)


def request(request_type: str, properties: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """A new CloudFormation request (its own RequestId) for the batch resource."""
    stack_id = kwargs.pop("stack_id", STACK_ID)
    event = make_event(request_type, properties or cfn_properties(), request_id=str(uuid.uuid4()), **kwargs)
    return {**event, "StackId": stack_id}


def start(event: dict[str, Any], clients: Clients, context: FakeContext) -> dict[str, Any]:
    """on_event, and the event the framework then hands is_complete."""
    return {**event, **index.on_event(event, context, clients=clients)}


def poll(
    waiting: dict[str, Any], clients: Clients, context: FakeContext, *, after: float = 0.0
) -> dict[str, Any] | None:
    """One is_complete, ``after`` seconds past on_event; the CloudFormation response once complete."""
    started_at = float(waiting["Data"][contract.DATA_STARTED_AT])
    answer = index.is_complete(waiting, context, clients, clock=lambda: started_at + after)
    if not answer["IsComplete"]:
        assert set(answer) == {"IsComplete"}, answer  # no Data, no id while not complete
        return None
    # As the framework merges them: {...event, ...isCompleteResult, Data: {...event.Data, ...result.Data}}.
    return {**waiting, **answer, "Data": {**waiting["Data"], **answer.get("Data", {})}}


def deploy(event: dict[str, Any], service: HealthOmics, clients: Clients, context: FakeContext) -> dict[str, Any]:
    """A deploy whose batch passes validation at once: on_event, then one is_complete."""
    waiting = start(event, clients, context)
    batch_id = waiting["PhysicalResourceId"]
    if service.batches[batch_id].status in lifecycle.VALIDATING:
        service.set_status(batch_id, "SUBMITTING")
    response = poll(waiting, clients, context)
    assert response is not None
    return response


def destroy(
    properties: dict[str, Any], batch_id: str, service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    """A delete as the framework runs it: on_event, then is_complete until done (batches stop at once)."""
    removal = start(request("Delete", properties, physical_id=batch_id), clients, context)
    for _ in range(10):
        if index.is_complete(removal, context, clients)["IsComplete"]:
            return
        for batch in service.started():
            batch.status = {"STOPPING": "CANCELLED", "RUNS_DELETING": "RUNS_DELETED"}.get(batch.status, batch.status)
    raise AssertionError("the delete did not complete")


# --- after a failed deploy ------------------------------------------------------------------


def test_redeploy_after_a_transient_validation_failure_starts_a_fresh_batch(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    waiting = start(request("Create"), clients, context)
    failed = waiting["PhysicalResourceId"]
    service.set_status(failed, "FAILED", failure_reason=TRANSIENT)
    with pytest.raises(RunBatchResourceError, match=f"^Batch {failed} FAILED: There was a transient error"):
        poll(waiting, clients, context)

    response = deploy(request("Create"), service, clients, context)  # the user deploys again, nothing changed

    fresh = response["PhysicalResourceId"]
    assert fresh != failed
    assert [b.id for b in service.started()] == [failed, fresh]
    assert response["Data"][contract.ATTR_BATCH_ID] == fresh


def test_a_batch_failing_in_this_deploy_fails_it_and_is_not_retried_blindly(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    """Validation errors are the user's to fix: the same request never starts a second batch."""
    event = request("Create")
    waiting = start(event, clients, context)
    service.set_status(waiting["PhysicalResourceId"], "FAILED", failure_reason="Expected 2 unique runSettingIds")

    for _ in range(3):  # the framework polls; a retried is_complete answers the same
        with pytest.raises(RunBatchResourceError, match="FAILED: Expected 2 unique runSettingIds"):
            poll(waiting, clients, context, after=30)
    again = start(event, clients, context)  # the same request re-delivered: its token names the failed batch
    assert again["PhysicalResourceId"] == waiting["PhysicalResourceId"]
    assert len(service.started()) == 1


# --- after a destroy (or a replacement) -----------------------------------------------------


@pytest.mark.parametrize("status", sorted(lifecycle.DEAD))
@pytest.mark.parametrize("replay_status", ["first", "current"])
def test_a_dead_batch_left_by_an_earlier_deploy_is_passed_over(
    client: Any, clients: Clients, context: FakeContext, status: str, replay_status: str
) -> None:
    """Whatever StartRunBatch says of a repeated requestId, GetBatch decides."""
    service = HealthOmics(replay_status=replay_status)
    with service.serving(client):
        earlier = deploy(request("Create"), service, clients, context)["PhysicalResourceId"]
        service.set_status(earlier, status)
        service.age(HOUR)

        response = deploy(request("Create"), service, clients, context)

    assert response["PhysicalResourceId"] != earlier
    assert len(service.started()) == 2


@pytest.mark.parametrize("status", ["CREATING", "PENDING", "SUBMITTING", "INPROGRESS", "PROCESSED"])
def test_a_live_or_processed_batch_is_adopted_not_started_again(
    service: HealthOmics, clients: Clients, context: FakeContext, status: str
) -> None:
    earlier = deploy(request("Create"), service, clients, context)["PhysicalResourceId"]
    service.set_status(earlier, status)
    service.age(HOUR)

    waiting = start(request("Create"), clients, context)
    if status in lifecycle.VALIDATING:  # still validating: the deploy waits for it, as for a new one
        assert poll(waiting, clients, context) is None
        service.set_status(earlier, "SUBMITTING")
    response = poll(waiting, clients, context)

    assert response is not None
    assert response["PhysicalResourceId"] == earlier
    assert len(service.started()) == 1


@pytest.mark.parametrize(
    ("on_delete", "left"),
    [("CANCEL_RUNS", "CANCELLED"), ("DELETE_RUNS_AND_BATCH", "deleted")],
)
def test_destroy_that_stops_the_batch_then_deploy_starts_a_fresh_batch(
    service: HealthOmics, clients: Clients, context: FakeContext, on_delete: str, left: str
) -> None:
    properties = cfn_properties(OnDelete=on_delete)
    earlier = deploy(request("Create", properties), service, clients, context)["PhysicalResourceId"]
    service.set_status(earlier, "INPROGRESS")
    destroy(properties, earlier, service, clients, context)
    assert service.batches[earlier].deleted if left == "deleted" else service.batches[earlier].status == left

    response = deploy(request("Create", properties), service, clients, context)

    assert response["PhysicalResourceId"] != earlier
    assert len(service.started()) == 2


# --- transient is not gone --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 429), ("InternalServerException", 500), ("AccessDeniedException", 403)],
)
@pytest.mark.parametrize("minutes", [5, 10])
def test_reads_that_fail_while_validating_never_start_another_batch(
    service: HealthOmics, clients: Clients, context: FakeContext, code: str, status: int, minutes: int
) -> None:
    """The reported case: one throttled read five minutes into validation left two batches."""
    waiting = start(request("Create"), clients, context)
    created = waiting["PhysicalResourceId"]
    for second in range(0, minutes * 60, 15):
        assert poll(waiting, clients, context, after=second) is None
    service.fail("GetBatch", code, status, times=3)
    for second in range(minutes * 60, minutes * 60 + 45, 15):
        assert poll(waiting, clients, context, after=second) is None
    service.set_status(created, "SUBMITTING")
    response = poll(waiting, clients, context, after=minutes * 60 + 45)

    assert response is not None and response["PhysicalResourceId"] == created
    assert len(service.started()) == 1
    assert service.names().count("StartRunBatch") == 1


def test_a_new_batch_not_visible_yet_is_waited_for_not_replaced(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    service.hide_new_batches_for = 3
    waiting = start(request("Create"), clients, context)
    created = waiting["PhysicalResourceId"]

    for after in (15, 30, 45):
        assert poll(waiting, clients, context, after=after) is None
    service.set_status(created, "SUBMITTING")
    response = poll(waiting, clients, context, after=60)

    assert response is not None and response["PhysicalResourceId"] == created
    assert len(service.started()) == 1


def test_a_batch_gone_while_the_deploy_waits_fails_it_and_the_next_deploy_starts_afresh(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    waiting = start(request("Create"), clients, context)
    gone = waiting["PhysicalResourceId"]
    service.set_status(gone, "CANCELLED")
    service.batches[gone].deleted = True  # cancelled and deleted outside CloudFormation

    assert poll(waiting, clients, context, after=60) is None  # maybe not visible yet
    with pytest.raises(RunBatchResourceError, match=f"^Batch {gone} does not exist: it was deleted while the deploy"):
        poll(waiting, clients, context, after=contract.NOT_VISIBLE_GRACE_SECONDS + 15)
    assert len(service.started()) == 1  # the deploy never starts another on its own

    response = deploy(request("Create"), service, clients, context)
    assert response["PhysicalResourceId"] != gone and len(service.started()) == 2


# --- a service that forgets requestIds, a stack created anew, a rollback ------------------------


def test_a_service_that_forgot_every_token_still_has_one_batch(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    old = cfn_properties()
    running = deploy(request("Create", old), service, clients, context)["PhysicalResourceId"]
    service.set_status(running, "INPROGRESS")
    service.forget_tokens()

    again = deploy(request("Create", old), service, clients, context)  # a redeploy, days later
    new = cfn_properties(BatchName="cohort-b")
    replaced = deploy(request("Update", new, old=old, physical_id=running), service, clients, context)
    service.forget_tokens()
    back = deploy(
        request("Update", old, old=new, physical_id=replaced["PhysicalResourceId"]), service, clients, context
    )

    assert again["PhysicalResourceId"] == back["PhysicalResourceId"] == running
    assert len(service.started()) == 2  # the definition's batch, and cohort-b's


def incarnation(stack_uuid: str, suffix: str) -> tuple[str, dict[str, Any]]:
    """A StackId and the properties of one incarnation of the stack: CloudFormation names the run
    role and output bucket the construct made anew each time it creates the stack."""
    role, bucket = f"arn:aws:iam::{ACCOUNT}:role/demo-CohortRunRole-{suffix}", f"demo-cohortoutput-{suffix.lower()}"
    properties = cfn_properties(StableNames={"RunRole": role, "OutputBucket": bucket})
    properties["DefaultRunSetting"].update(roleArn=role, outputUri=f"s3://{bucket}/Cohort/")
    return STACK_ID.rsplit("/", 1)[0] + "/" + stack_uuid, properties


def test_a_stack_created_anew_after_a_retaining_destroy_runs_nothing_twice(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    stack_id, properties = incarnation("11111111-aaaa-bbbb-cccc-000000000001", "AAAA")
    retained = deploy(request("Create", properties, stack_id=stack_id), service, clients, context)["PhysicalResourceId"]
    service.set_status(retained, "INPROGRESS")
    start(request("Delete", properties, stack_id=stack_id, physical_id=retained), clients, context)  # RETAIN

    stack_id, properties = incarnation("22222222-aaaa-bbbb-cccc-000000000002", "BBBB")
    response = deploy(request("Create", properties, stack_id=stack_id), service, clients, context)

    assert response["PhysicalResourceId"] == retained
    assert len(service.started()) == 1


def test_a_stack_created_anew_after_a_failed_first_create_runs_nothing_twice(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    """The first create timed out while its batch validated; the rollback retained the batch."""
    stack_id, properties = incarnation("11111111-aaaa-bbbb-cccc-000000000001", "AAAA")
    waiting = start(request("Create", properties, stack_id=stack_id), clients, context)
    first = waiting["PhysicalResourceId"]
    with pytest.raises(RunBatchResourceError, match="still validating when the deploy's timeout ran out"):
        poll(waiting, clients, context, after=HOUR + 1)
    start(request("Delete", properties, stack_id=stack_id, physical_id=first), clients, context)  # RETAIN
    service.set_status(first, "SUBMITTING")  # it passed validation after all

    stack_id, properties = incarnation("22222222-aaaa-bbbb-cccc-000000000002", "BBBB")
    response = deploy(request("Create", properties, stack_id=stack_id), service, clients, context)

    assert response["PhysicalResourceId"] == first
    assert len(service.started()) == 1


def test_a_redelivered_request_finds_its_batch_before_it_is_listed(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    """ListBatch does not show the new batch yet; the request's token names it."""
    service.hide_new_batches_for = 2
    event = request("Create")
    first = start(event, clients, context)
    again = start(event, clients, context)

    assert again["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert len(service.started()) == 1


def test_rollback_of_a_failed_replacing_update_gets_the_running_batch_back(
    service: HealthOmics, clients: Clients, context: FakeContext
) -> None:
    old = cfn_properties()
    running = deploy(request("Create", old), service, clients, context)["PhysicalResourceId"]
    service.set_status(running, "INPROGRESS")

    new = cfn_properties(BatchName="cohort-b")
    waiting = start(request("Update", new, old=old, physical_id=running), clients, context)
    replacement = waiting["PhysicalResourceId"]
    service.set_status(replacement, "FAILED", failure_reason="Invalid JSON format in run configurations")
    with pytest.raises(RunBatchResourceError, match="Invalid JSON"):
        poll(waiting, clients, context)

    rollback = request("Update", old, old=new, physical_id=replacement)
    response = poll(start(rollback, clients, context), clients, context)

    assert response is not None
    assert response["PhysicalResourceId"] == running  # CloudFormation then deletes the replacement
    assert service.batches[running].status == "INPROGRESS"
    assert len(service.started()) == 2
