"""A growing cohort: each deploy starts only the samples that are new or changed.

A stack is deployed offline (``deployment.py``: the template's own state machine, the real
handlers and tracker, the HealthOmics stand-in), its cohort followed to its report, then deployed
again with another samplesheet: the update of the batch resource, old properties against new, as
CloudFormation sends it. What HealthOmics was asked to start, the resource's id, the report and the
completion events are what the user gets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from omics_batch_construct import DefaultRunSetting, RunSetting
from omics_common import contract
from tests.tracking.deployment import Deployment, Ending, deployed, role_arns, synthesized
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


def until_reported(deployment: Deployment, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        listed = deployment.machine.sfn.list_executions(stateMachineArn=deployment.machine.arn)["executions"]
        if listed and all(e["status"] != "RUNNING" for e in listed):
            return
        assert time.monotonic() < deadline, "the cohort's tracking did not end"
        time.sleep(0.05)


def report(deployment: Deployment) -> list[dict[str, str]]:
    uri = deployment.properties()[contract.PROP_REPORT_URI]
    bucket, _, folder = uri.removeprefix("s3://").partition("/")
    key = f"{folder}batch-{deployment.first_batch_id}/report.json"
    return list(json.loads(deployment.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def completions(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        json.loads(entry["Detail"])
        for service, operation, params in deployment.tracker_calls.calls
        if (service, operation) == ("events", "PutEvents")
        for entry in params["Entries"]
        if entry["DetailType"] == contract.EVENT_DETAIL_TYPE
    ]


def ids(batch: Any) -> list[str]:
    return [entry["runSettingId"] for entry in batch.settings]


@pytest.fixture(scope="module")
def stacks() -> dict[str, tuple[dict[str, Any], Path]]:
    return {
        "3": synthesized(samples(3)),
        "5": synthesized(samples(5)),
        "3, one changed": synthesized(samples(3, changed="S0002")),
        "2": synthesized(samples(2)),
        "3, another workflow": synthesized(samples(3), default_run_setting=DefaultRunSetting(workflow_id="7654321")),
        "150": synthesized(samples(150)),
        "160": synthesized(samples(160)),
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
