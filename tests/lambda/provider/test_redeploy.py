"""Deploying again: a dead batch of the definition is passed over, a live one is never started twice.

Against the HealthOmics stand-in (tests/standin), which remembers its batches and answers a
repeated requestId with the batch it already has. Each deploy runs as the Provider
framework runs it: on_event, then is_complete until it is complete, with the framework's
merge of the two answers (its is_complete may name the resource's PhysicalResourceId).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from provider_testkit import FakeContext, cfn_properties, make_event

from omics_common import contract
from omics_common.clients import Clients
from omics_common.errors import RunBatchResourceError
from provider import batch, index
from provider.properties import parse_properties, start_run_batch_input
from tests.standin.healthomics import HealthOmics

TRANSIENT = "There was a transient error in the service. Retry the batch."
HOUR = 3600.0


def request(request_type: str, properties: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """A new CloudFormation request (its own RequestId) for the batch resource."""
    return make_event(request_type, properties or cfn_properties(), request_id=str(uuid.uuid4()), **kwargs)


def start(event: dict[str, Any], client: Any, context: FakeContext) -> dict[str, Any]:
    """on_event, and the event the framework then hands is_complete."""
    return {**event, **index.on_event(event, context, clients=Clients(omics=client))}


def poll(waiting: dict[str, Any], client: Any, context: FakeContext, *, after: float = 0.0) -> dict[str, Any] | None:
    """One is_complete, ``after`` seconds past on_event; the CloudFormation response once complete."""
    event = later(waiting, after)
    answer = index.is_complete(event, context, clients=Clients(omics=client))
    if not answer["IsComplete"]:
        assert set(answer) == {"IsComplete"}, answer  # no Data, no id while not complete
        return None
    # As the framework merges them: {...event, ...isCompleteResult, Data: {...event.Data, ...result.Data}}.
    return {**event, **answer, "Data": {**event["Data"], **answer.get("Data", {})}}


def later(waiting: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The same is_complete event, ``seconds`` later (on_event's StartedAt moved back)."""
    data = dict(waiting["Data"])
    data[contract.DATA_STARTED_AT] = repr(float(data[contract.DATA_STARTED_AT]) - seconds)
    return {**waiting, "Data": data}


def deploy(event: dict[str, Any], service: HealthOmics, client: Any, context: FakeContext) -> dict[str, Any]:
    """A deploy whose new batch passes validation at once: on_event, then one is_complete."""
    waiting = start(event, client, context)
    service.set_status(waiting["PhysicalResourceId"], "SUBMITTING")
    response = poll(waiting, client, context)
    assert response is not None
    return response


def token(event: dict[str, Any], generation: int) -> str:
    return batch.request_id(batch.definition_token(event), generation)


# --- after a failed deploy ------------------------------------------------------------------


def test_redeploy_after_a_transient_validation_failure_starts_a_fresh_batch(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    first = request("Create")
    waiting = start(first, client, context)
    failed = waiting["PhysicalResourceId"]
    service.set_status(failed, "FAILED", failure_reason=TRANSIENT)
    with pytest.raises(RunBatchResourceError, match=f"^Batch {failed} FAILED: There was a transient error"):
        poll(waiting, client, context)

    service.age(600)  # the user deploys again, ten minutes later, nothing changed
    response = deploy(request("Create"), service, client, context)

    fresh = response["PhysicalResourceId"]
    assert fresh != failed
    assert [b.id for b in service.started()] == [failed, fresh]
    assert service.batches[fresh].request_id == token(first, 1)
    assert response["Data"][contract.DATA_GENERATION] == "1"
    assert response["Data"][contract.ATTR_BATCH_ID] == fresh


def test_a_batch_failing_in_this_deploy_fails_it_and_is_not_retried_blindly(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    """Validation errors are the user's to fix: the same deploy never starts a second batch."""
    waiting = start(request("Create"), client, context)
    service.set_status(waiting["PhysicalResourceId"], "FAILED", failure_reason="Expected 2 unique runSettingIds")

    for _ in range(3):  # the framework polls; a retried is_complete answers the same
        with pytest.raises(RunBatchResourceError, match="FAILED: Expected 2 unique runSettingIds"):
            poll(waiting, client, context, after=30)
    assert len(service.started()) == 1


# --- after a destroy (or a replacement) -----------------------------------------------------


@pytest.mark.parametrize("status", sorted(contract.DEAD_STATUSES))
@pytest.mark.parametrize("replay_status", ["first", "current"])
def test_a_dead_batch_left_by_an_earlier_deploy_is_passed_over(
    client: Any, context: FakeContext, status: str, replay_status: str
) -> None:
    """Whatever StartRunBatch says of a repeated requestId, GetBatch decides."""
    service = HealthOmics(replay_status=replay_status)
    with service.serving(client):
        earlier = deploy(request("Create"), service, client, context)["PhysicalResourceId"]
        service.set_status(earlier, status)
        service.age(HOUR)

        response = deploy(request("Create"), service, client, context)

    assert response["PhysicalResourceId"] != earlier
    assert len(service.started()) == 2
    # The replay was asked, and judged by GetBatch, before the next generation was started.
    assert service.names()[-5:] == ["StartRunBatch", "GetBatch", "StartRunBatch", "GetBatch", "GetBatch"]


@pytest.mark.parametrize("status", ["PENDING", "SUBMITTING", "INPROGRESS", "PROCESSED"])
@pytest.mark.parametrize("replay_status", ["first", "current"])
def test_a_live_or_processed_batch_is_returned_not_started_again(
    client: Any, context: FakeContext, status: str, replay_status: str
) -> None:
    service = HealthOmics(replay_status=replay_status)
    with service.serving(client):
        earlier = deploy(request("Create"), service, client, context)["PhysicalResourceId"]
        service.set_status(earlier, status)
        service.age(HOUR)

        waiting = start(request("Create"), client, context)
        if status == "PENDING":  # still validating: the deploy waits for it, as for a new one
            assert poll(waiting, client, context) is None
            service.set_status(earlier, "SUBMITTING")
        response = poll(waiting, client, context)

    assert response is not None
    assert response["PhysicalResourceId"] == earlier
    assert len(service.started()) == 1


def test_destroy_with_cancel_runs_then_deploy_starts_a_fresh_batch(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    """The issue's case: the redeploy used to "succeed" with the CANCELLED batch."""
    properties = cfn_properties(OnDelete="CANCEL_RUNS")
    earlier = deploy(request("Create", properties), service, client, context)["PhysicalResourceId"]
    service.set_status(earlier, "INPROGRESS")

    removal = {**request("Delete", properties), "PhysicalResourceId": earlier}
    index.on_event(removal, context, clients=Clients(omics=client))
    assert service.batches[earlier].status == "STOPPING"
    service.set_status(earlier, "CANCELLED")
    assert index.is_complete(removal, context, clients=Clients(omics=client)) == {"IsComplete": True}
    service.age(HOUR)

    response = deploy(request("Create", properties), service, client, context)

    assert response["PhysicalResourceId"] != earlier
    assert response["Data"][contract.ATTR_STATUS] == "SUBMITTING"


def test_destroy_with_delete_runs_and_batch_then_deploy_starts_a_fresh_batch(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    """A deleted batch's requestId still names it (the worst case): it reads as gone, then the walk moves on."""
    properties = cfn_properties(OnDelete="DELETE_RUNS_AND_BATCH")
    earlier = deploy(request("Create", properties), service, client, context)["PhysicalResourceId"]
    service.set_status(earlier, "PROCESSED")
    removal = {**request("Delete", properties), "PhysicalResourceId": earlier}
    index.on_event(removal, context, clients=Clients(omics=client))  # DeleteRunBatch
    service.set_status(earlier, "RUNS_DELETED")
    assert index.is_complete(removal, context, clients=Clients(omics=client)) == {"IsComplete": False}  # DeleteBatch
    assert index.is_complete(removal, context, clients=Clients(omics=client)) == {"IsComplete": True}  # gone
    service.age(HOUR)

    waiting = start(request("Create", properties), client, context)
    assert waiting["PhysicalResourceId"] == earlier  # what the requestId names; not readable
    assert poll(waiting, client, context, after=30) is None  # maybe not visible yet: wait
    assert len(service.started()) == 1
    assert poll(waiting, client, context, after=130) is None  # gone: generation 1 started
    (fresh,) = [b.id for b in service.started() if b.id != earlier]
    assert service.batches[fresh].request_id == token(waiting, 1)
    service.set_status(fresh, "SUBMITTING")
    response = poll(waiting, client, context, after=145)

    assert response is not None
    assert response["PhysicalResourceId"] == fresh  # the framework takes it from is_complete
    assert response["Data"][contract.ATTR_BATCH_ID] == fresh
    assert len(service.started()) == 2


def test_a_new_batch_not_visible_yet_is_waited_for_not_replaced(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    service.hide_new_batches_for = 3
    waiting = start(request("Create"), client, context)  # GetBatch: not found (1)
    created = waiting["PhysicalResourceId"]

    assert poll(waiting, client, context, after=15) is None  # (2)
    assert poll(waiting, client, context, after=30) is None  # (3)
    service.set_status(created, "SUBMITTING")
    response = poll(waiting, client, context, after=45)

    assert response is not None and response["PhysicalResourceId"] == created
    assert len(service.started()) == 1


def test_every_generation_judged_gone_had_a_grace_of_its_own(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    """Generation 1 is first asked for after one grace, so it is not judged gone before two."""
    event = request("Create")
    for generation in (0, 1):  # two earlier batches of the definition, both deleted
        service.StartRunBatch(token_params(client, event, generation))
    for old in service.started():
        old.deleted = True
    service.hide_new_batches_for = 100  # and the next one stays invisible: nothing is ever readable

    waiting = start(event, client, context)
    assert poll(waiting, client, context, after=121) is None  # 0 gone: asks 1, which is not readable
    assert poll(waiting, client, context, after=200) is None  # 1 within its own grace: waits
    assert len(service.started()) == 2
    assert poll(waiting, client, context, after=241) is None  # 1 gone too: generation 2 is started
    assert len(service.started()) == 3
    assert service.started()[-1].request_id == token(event, 2)


# --- the same request again, and the rollback -------------------------------------------------


def test_a_redelivered_request_and_retried_polls_find_the_same_batch(
    service: HealthOmics, client: Any, context: FakeContext
) -> None:
    event = request("Create")
    first = start(event, client, context)
    again = start(event, client, context)
    assert poll(first, client, context) is None
    assert poll(again, client, context) is None
    service.set_status(first["PhysicalResourceId"], "SUBMITTING")
    responses = [poll(first, client, context), poll(again, client, context)]

    assert {r["PhysicalResourceId"] for r in responses if r} == {first["PhysicalResourceId"]}
    assert len(service.started()) == 1


@pytest.mark.parametrize("dead_generations", [0, 1], ids=["first generation", "after a dead one"])
def test_rollback_of_a_failed_replacing_update_gets_the_running_batch_back(
    service: HealthOmics, client: Any, context: FakeContext, dead_generations: int
) -> None:
    old = cfn_properties()
    if dead_generations:  # an earlier deploy of the old definition failed; the next one runs
        failed = start(request("Create", old), client, context)["PhysicalResourceId"]
        service.set_status(failed, "FAILED", failure_reason=TRANSIENT)
        service.age(HOUR)
    running = deploy(request("Create", old), service, client, context)["PhysicalResourceId"]
    service.set_status(running, "INPROGRESS")

    new = cfn_properties(BatchName="cohort-b")
    update = request("Update", new, old=old, physical_id=running)
    waiting = start(update, client, context)
    replacement = waiting["PhysicalResourceId"]
    service.set_status(replacement, "FAILED", failure_reason="Invalid JSON format in run configurations")
    with pytest.raises(RunBatchResourceError, match="Invalid JSON"):
        poll(waiting, client, context)

    rollback = request("Update", old, old=new, physical_id=replacement)
    response = poll(start(rollback, client, context), client, context)

    assert response is not None
    assert response["PhysicalResourceId"] == running  # CloudFormation then deletes the replacement
    assert service.batches[running].status == "INPROGRESS"
    assert len(service.started()) == 2 + dead_generations


def test_too_many_dead_generations_ask_for_a_new_name(
    service: HealthOmics, client: Any, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "MAX_GENERATIONS", 3)
    event = request("Create")
    for generation in range(3):
        service.StartRunBatch(token_params(client, event, generation))
    for old in service.started():
        old.status = "FAILED"
    service.age(HOUR)

    with pytest.raises(RunBatchResourceError, match=r"3 batches of this definition in a row are dead or gone\. Change"):
        index.on_event(event, context, clients=Clients(omics=client))
    assert len(service.started()) == 3


def token_params(client: Any, event: dict[str, Any], generation: int) -> dict[str, Any]:
    """The StartRunBatch parameters a deploy of ``event`` sends for ``generation``."""
    props = parse_properties(event["ResourceProperties"], start_run_batch_input(client))
    return props.start_run_batch_params(token(event, generation))
