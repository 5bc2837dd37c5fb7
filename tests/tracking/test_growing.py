"""A growing cohort: each deploy starts only the samples that are new or changed.

A stack is deployed offline (``deployment.py``: the template's own state machine, the real
handlers and tracker, the HealthOmics stand-in), its cohort followed to its report, then deployed
again with another samplesheet: the update of the batch resource, old properties against new, as
CloudFormation sends it. What HealthOmics was asked to start, the resource's id, the report and the
completion events are what the user gets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from omics_batch_construct import DefaultRunSetting, OnDelete, RunSetting
from omics_batch_construct_runtime import contract
from tests.tracking.deployment import (
    Deployment,
    Ending,
    Script,
    completions,
    deployed,
    report,
    role_arns,
    synthesized,
    until,
    until_reported,
)
from tests.tracking.grants import Physical, Policies, encryption, requests


def samples(count: int, *, changed: str = "", start: int = 1) -> list[RunSetting]:
    return [
        RunSetting(
            run_setting_id=f"S{i:04d}",
            parameters={"sample": f"s3://in/S{i:04d}.bam", **({"threads": 8} if f"S{i:04d}" == changed else {})},
        )
        for i in range(start, start + count)
    ]


def clean(*_: Any) -> Ending:
    return Ending()


def ids(batch: Any) -> list[str]:
    return [entry["runSettingId"] for entry in batch.settings]


@pytest.fixture(scope="module")
def stacks() -> dict[str, tuple[dict[str, Any], Path]]:
    return {
        "3": synthesized(samples(3)),
        "5": synthesized(samples(5)),
        "3, one changed": synthesized(samples(3, changed="S0002")),
        "2": synthesized(samples(2)),
        "2, one changed": synthesized(samples(2, changed="S0002")),
        "5, renamed": synthesized(samples(5), batch_name="cohort-renamed"),
        "3, another workflow": synthesized(samples(3), default_run_setting=DefaultRunSetting(workflow_id="7654321")),
        "150": synthesized(samples(150)),
        "160": synthesized(samples(160)),
        "3, cancel": synthesized(samples(3), on_delete=OnDelete.CANCEL_RUNS),
        "2, cancel": synthesized(samples(2), on_delete=OnDelete.CANCEL_RUNS),
        "3, delete": synthesized(samples(3), on_delete=OnDelete.DELETE_RUNS_AND_BATCH),
        "2, delete": synthesized(samples(2), on_delete=OnDelete.DELETE_RUNS_AND_BATCH),
    }


@pytest.fixture
def grown(stacks: dict[str, Any]) -> Iterator[Callable[..., Deployment]]:
    """A deployment of ``first``, followed to its report, then of each of ``then`` in turn."""
    contexts: list[Any] = []

    def deploy(first: str, *then: str) -> Deployment:
        context = deployed(*stacks[first], clean)
        deployment, _ = context.__enter__()
        contexts.append(context)
        deployment.create()
        until_reported(deployment)
        for name in then:
            deployment.redeploy(*stacks[name])
            until_reported(deployment)
        return deployment

    yield deploy
    for context in reversed(contexts):
        context.__exit__(None, None, None)


def test_two_samples_added_start_one_batch_of_those_two(grown: Callable[..., Deployment]) -> None:
    deployment = grown("3", "5")
    first, added = deployment.service.started()

    assert deployment.first_batch_id == first.id  # the same resource: nothing deleted, nothing replaced
    assert ids(added) == ["S0004", "S0005"]
    assert added.request["batchName"] == f"c{first.id}-p1a1"
    rows = report(deployment)
    assert [r["runSettingId"] for r in rows] == ["S0001", "S0002", "S0003", "S0004", "S0005"]
    assert [r["batchId"] for r in rows] == [first.id] * 3 + [added.id] * 2
    events = completions(deployment)
    assert len(events) == 2 and events[-1]["counts"]["runs"] == 5 and events[-1]["succeeded"] is True


def test_a_sample_whose_parameters_changed_is_run_again_alone(grown: Callable[..., Deployment]) -> None:
    deployment = grown("3", "3, one changed")
    _, changed = deployment.service.started()

    assert ids(changed) == ["S0002"] and changed.settings[0]["parameters"]["threads"] == 8
    rows = {r["runSettingId"]: r for r in report(deployment)}
    assert list(rows) == ["S0001", "S0003", "S0002"]  # each sample once, with its latest part's run
    assert rows["S0002"]["batchId"] == changed.id


def test_a_sample_removed_under_retain_starts_nothing_and_leaves_the_report(grown: Callable[..., Deployment]) -> None:
    deployment = grown("3", "2")

    assert len(deployment.service.started()) == 1
    assert [r["runSettingId"] for r in report(deployment)] == ["S0001", "S0002"]


def test_a_new_batch_name_reaches_no_run_and_starts_nothing_again(grown: Callable[..., Deployment]) -> None:
    deployment = grown("3", "5, renamed")
    first, added = deployment.service.started()

    assert deployment.first_batch_id == first.id and ids(added) == ["S0004", "S0005"]
    assert len(report(deployment)) == 5


def test_a_change_of_the_shared_default_is_a_full_rerun(grown: Callable[..., Deployment]) -> None:
    deployment = grown("3", "3, another workflow")
    first, rerun = deployment.service.started()

    assert deployment.first_batch_id == rerun.id != first.id  # replaced: CloudFormation deletes the old
    assert ids(rerun) == ["S0001", "S0002", "S0003"]
    assert rerun.request["defaultRunSetting"]["workflowId"] == "7654321"


def test_a_settings_file_cohort_of_150_runs_plus_10_starts_a_batch_of_the_10(grown: Callable[..., Deployment]) -> None:
    deployment = grown("150", "160")
    _, added = deployment.service.started()

    assert ids(added) == [f"S{i:04d}" for i in range(151, 161)]
    assert len(report(deployment)) == 160


def test_more_new_samples_than_a_batch_takes_are_parts_the_tracking_starts_in_turn(
    grown: Callable[..., Deployment], stacks: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = grown("3")
    monkeypatch.setattr(contract, "MAX_RUNS", 100)  # a batch's limit, small enough to cross here
    deployment.redeploy(*stacks["160"])
    until_reported(deployment)
    first, *parts = deployment.service.started()

    assert [(b.request["batchName"], len(b.settings)) for b in parts] == [
        (f"c{first.id}-p1a1", 100),
        (f"c{first.id}-p2a1", 57),
    ]
    assert len(report(deployment)) == 160 and completions(deployment)[-1]["counts"]["runs"] == 160


def test_a_redelivered_update_a_rollback_and_the_same_additions_again_start_nothing_more(
    grown: Callable[..., Deployment], stacks: dict[str, Any]
) -> None:
    deployment = grown("3", "5")
    deployment.redeploy(*stacks["5"], request_id="update-request")  # the same request, delivered again
    deployment.redeploy(*stacks["3"])  # the rollback: the old samples, each given before
    until_reported(deployment)
    deployment.redeploy(*stacks["5"])  # the additions once more: given before too
    until_reported(deployment)

    assert len(deployment.service.started()) == 2
    assert [r["runSettingId"] for r in report(deployment)] == ["S0001", "S0002", "S0003", "S0004", "S0005"]


@pytest.fixture
def running(stacks: dict[str, Any]) -> Iterator[Callable[..., tuple[Deployment, Callable[[], None]]]]:
    """A deployment of a stack whose batch has submitted its runs and holds them RUNNING (unless not
    ``submitted``), and what lets it end as ``script`` says (its runs COMPLETED, those still going)
    and waits for its report."""
    contexts: list[Any] = []

    def deploy(name: str, script: Script = clean, *, submitted: bool = True) -> tuple[Deployment, Callable[[], None]]:
        hold = {"on": True}
        context = deployed(*stacks[name], script)
        deployment, tracking = context.__enter__()
        contexts.append(context)
        tracking.hold = lambda part, attempt: hold["on"]
        deployment.create()
        until(tracking.settled, "the tracker did not wait")
        if submitted:
            deployment.service.submit(str(deployment.first_batch_id))

        def release() -> None:
            hold["on"] = False
            deployment.announce(deployment.service.started()[0])  # wakes the tracker: its next wait ends them
            until_reported(deployment)

        return deployment, release

    yield deploy
    for context in reversed(contexts):
        context.__exit__(None, None, None)


def runs(deployment: Deployment) -> dict[str, str]:
    """Each run setting's run status in every batch ("DELETED": its run was deleted)."""
    return {
        f"{run.setting_id}@{batch.id}": "DELETED" if run.deleted else run.status
        for batch in deployment.service.started()
        for run in batch.runs
    }


def called(deployment: Deployment, *operations: str) -> list[tuple[str, str]]:
    return [
        (operation, params.get("id", ""))
        for service, operation, params in deployment.handler_calls.calls
        if service == "omics" and operation in operations
    ]


def test_a_sample_removed_under_cancel_runs_has_its_run_cancelled_and_no_other(
    running: Callable[..., tuple[Deployment, Callable[[], None]]], stacks: dict[str, Any]
) -> None:
    deployment, release = running("3, cancel")
    first = deployment.first_batch_id
    deployment.redeploy(*stacks["2, cancel"])
    after_update = runs(deployment)
    release()

    assert after_update == {f"S0001@{first}": "RUNNING", f"S0002@{first}": "RUNNING", f"S0003@{first}": "CANCELLED"}
    assert audit(deployment) == []
    assert len(deployment.service.started()) == 1  # nothing new to start
    assert [r["runSettingId"] for r in report(deployment)] == ["S0001", "S0002"]
    events = completions(deployment)
    assert events[-1]["counts"]["runs"] == 2 and events[-1]["succeeded"] is True


def test_under_delete_runs_and_batch_a_removed_samples_run_is_cancelled_then_deleted(
    running: Callable[..., tuple[Deployment, Callable[[], None]]], stacks: dict[str, Any]
) -> None:
    deployment, release = running("3, delete")
    first = deployment.first_batch_id
    (run_id,) = [r.run_id for r in deployment.service.batches[str(first)].runs if r.setting_id == "S0003"]
    deployment.redeploy(*stacks["2, delete"])
    after_update = runs(deployment)
    release()

    assert after_update == {f"S0001@{first}": "RUNNING", f"S0002@{first}": "RUNNING", f"S0003@{first}": "DELETED"}
    assert called(deployment, "CancelRun", "DeleteRun") == [("CancelRun", run_id), ("DeleteRun", run_id)]
    assert audit(deployment) == []
    assert [r["runSettingId"] for r in report(deployment)] == ["S0001", "S0002"]


def test_a_sample_removed_under_cancel_runs_and_added_again_runs_again(
    running: Callable[..., tuple[Deployment, Callable[[], None]]], stacks: dict[str, Any]
) -> None:
    deployment, release = running("3, cancel")
    deployment.redeploy(*stacks["2, cancel"])
    deployment.redeploy(*stacks["3, cancel"])  # a rollback, or the sample put back
    release()
    first, again = deployment.service.started()

    assert ids(again) == ["S0003"] and again.request["batchName"] == f"c{first.id}-p1a1"
    rows = {r["runSettingId"]: r["batchId"] for r in report(deployment)}
    assert rows == {"S0001": first.id, "S0002": first.id, "S0003": again.id}


def test_a_removal_survives_throttling_a_conflict_and_a_redelivered_update(
    running: Callable[..., tuple[Deployment, Callable[[], None]]], stacks: dict[str, Any]
) -> None:
    deployment, release = running("3, cancel")
    service = deployment.service
    service.fail("ListRunsInBatch", "ThrottlingException", 400)
    service.fail("GetRun", "InternalServerException", 500)
    service.fail("CancelRun", "ConflictException", 409)  # as a run that changed state under the call
    deployment.redeploy(*stacks["2, cancel"])
    deployment.redeploy(*stacks["2, cancel"], request_id="update-request")  # the same request, delivered again
    release()

    assert sorted(runs(deployment).values()) == ["CANCELLED", "COMPLETED", "COMPLETED"]
    assert len(called(deployment, "CancelRun")) == 2  # the conflict, then the cancel; never again
    assert len(service.started()) == 1


def test_a_removal_the_service_refuses_fails_the_deploy_with_its_reason(
    running: Callable[..., tuple[Deployment, Callable[[], None]]], stacks: dict[str, Any]
) -> None:
    deployment, release = running("3, cancel")
    deployment.service.fail("CancelRun", "AccessDeniedException", 403, times=10, message="no omics:CancelRun here")

    with pytest.raises(Exception, match=r"AccessDeniedException.*no omics:CancelRun here"):
        deployment.redeploy(*stacks["2, cancel"])
    assert sorted(runs(deployment).values()) == ["RUNNING"] * 3  # nothing stopped, nothing dropped
    deployment.service.faults.clear()
    release()


def test_a_failed_submission_is_resubmitted_only_for_samples_the_stack_has_as_they_are_now(
    running: Callable[..., tuple[Deployment, Callable[[], None]]], stacks: dict[str, Any]
) -> None:
    def script(batch: Any, part: int, attempt: int) -> Ending:
        refused = {"S0002": "ServiceQuotaExceededException", "S0003": "ServiceQuotaExceededException"}
        return Ending(refused=refused) if (part, attempt) == (0, 1) else Ending()

    deployment, release = running("3", script, submitted=False)
    deployment.redeploy(*stacks["2, one changed"])  # S0002 changed (it runs in part 1), S0003 removed
    release()
    first, changed, *resubmitted = deployment.service.started()

    assert ids(changed) == ["S0002"] and changed.settings[0]["parameters"]["threads"] == 8
    assert resubmitted == []  # neither the old S0002 nor the removed S0003 goes again
    rows = {r["runSettingId"]: r["batchId"] for r in report(deployment)}
    assert rows == {"S0001": first.id, "S0002": changed.id}


def test_a_growing_cohort_calls_only_what_is_granted(stacks: dict[str, Any]) -> None:
    """Each revision's calls against the policies of the template in force when they were made."""
    with deployed(*stacks["150"], clean) as (deployment, _):
        deployment.create()
        until_reported(deployment)
        assert audit(deployment) == []
        deployment.handler_calls.calls.clear()
        deployment.tracker_calls.calls.clear()
        deployment.redeploy(*stacks["160"])
        until_reported(deployment)
        assert audit(deployment) == []
        assert "CopyObject" not in {operation for _, operation, _ in deployment.tracker_calls.calls}  # copied once


def audit(deployment: Deployment) -> list[str]:
    physical = Physical(
        deployment.template, deployment.machine.arn, role_arns(deployment.template), str(deployment.first_batch_id)
    )
    policies, keys = Policies(deployment.template, physical), encryption(physical)
    denied = []
    for fragment, recorder in (
        ("OmicsRunBatchProviderHandlerRole", deployment.handler_calls),
        ("CohortTrackerRole", deployment.tracker_calls),
    ):
        wanted = [
            request
            for service, operation, params in recorder.calls
            for request in requests(service, operation, params, machine=deployment.machine.arn, keys=keys)
        ]
        denied.extend(str(r) for r in policies.denied(policies.role_id(fragment), wanted))
    return denied
