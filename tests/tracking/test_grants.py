"""The grants follow the calls: every AWS call the packaged handlers make, on every path, is allowed
by the role policies the synthesized template gives the function that makes it.

Each case deploys a stack offline (``deployment.py``), takes it down a path (a cohort that
resubmits and reports, a destroy mid-resubmission under each ``on_delete``, an untracked batch,
a customer-managed key, a batch whose runs must be reached one by one, a deploy that starts a
crashed tracking again), records what the deploy's handlers and the tracker call, and holds each
call against the role's statements (``grants.py``: action, resource and condition keys, and what
a call implies: PassRole, StartRun's dual authorization, KMS for encrypted buckets and state
machines).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from omics_batch_construct import OnDelete, RunSetting
from tests.standin.healthomics import Batch
from tests.tracking.deployment import Deployment, Ending, Tracking, deployed, role_arns, synthesized, until
from tests.tracking.grants import Physical, Policies, Request, dumps, encryption, requests

SAMPLES = ("NA12878", "NA12891", "NA12892")
RUNS = [RunSetting(run_setting_id=s, parameters={"sample": f"s3://in/{s}.bam"}) for s in SAMPLES]
STACKS: dict[str, dict[str, Any]] = {
    "tracked, retained": {},
    "tracked, cancelled": {"on_delete": OnDelete.CANCEL_RUNS},
    "tracked, deleted": {"on_delete": OnDelete.DELETE_RUNS_AND_BATCH},
    "tracked, encrypted, cancelled": {"on_delete": OnDelete.CANCEL_RUNS, "encrypted": True},
    "untracked, cancelled": {"on_delete": OnDelete.CANCEL_RUNS, "track_completion": False, "retry": None},
    "untracked, deleted": {"on_delete": OnDelete.DELETE_RUNS_AND_BATCH, "track_completion": False, "retry": None},
}


@pytest.fixture(scope="module")
def stacks() -> dict[str, tuple[dict[str, Any], Path]]:
    return {name: synthesized(RUNS, **options) for name, options in STACKS.items()}


def refuse_one(batch: Batch, part: int, attempt: int) -> Ending:
    """The first batch's second sample is refused for quota (a resubmission starts); others end clean."""
    return Ending(refused={"NA12891": "ServiceQuotaExceededException"}) if attempt == 1 else Ending()


def audit(deployment: Deployment) -> dict[str, list[Request]]:
    """Each role's calls that its policies do not allow (none, for every role, is the test)."""
    physical = Physical(
        deployment.template, deployment.machine.arn, role_arns(deployment.template), str(deployment.first_batch_id)
    )
    policies = Policies(deployment.template, physical)
    keys = encryption(physical)
    denied = {}
    for role, fragment, recorder in (
        ("handler", "OmicsRunBatchProviderHandlerRole", deployment.handler_calls),
        ("tracker", "CohortTrackerRole", deployment.tracker_calls),
        ("insight", "CohortInsightRole", deployment.insight_calls),
    ):
        if not recorder.calls:
            continue
        wanted = [
            request
            for service, operation, params in recorder.calls
            for request in requests(service, operation, params, machine=deployment.machine.arn, keys=keys)
        ]
        denied[role] = policies.denied(policies.role_id(fragment), wanted)
    return denied


def mid_resubmission(deployment: Deployment, tracking: Tracking) -> None:
    tracking.hold = lambda part, attempt: attempt == 2
    deployment.create()
    until(lambda: len(deployment.service.started()) == 2 and tracking.settled(), "the resubmission did not start")


@pytest.mark.parametrize(
    "stack", ["tracked, retained", "tracked, cancelled", "tracked, deleted", "tracked, encrypted, cancelled"]
)
def test_a_destroy_mid_resubmission_calls_only_what_is_granted(stacks: dict[str, Any], stack: str) -> None:
    with deployed(*stacks[stack], refuse_one) as (deployment, tracking):
        mid_resubmission(deployment, tracking)
        deployment.destroy()
        denied = audit(deployment)
        names = {operation for _, operation, _ in deployment.handler_calls.calls}

    assert denied == {"handler": [], "tracker": []}, {role: dumps(r) for role, r in denied.items()}
    assert {"ListBatch", "StartRunBatch", "StartExecution", "StopExecution", "PutObject"} <= names


def test_a_cohort_that_resubmits_and_reports_calls_only_what_is_granted(stacks: dict[str, Any]) -> None:
    with deployed(*stacks["tracked, retained"], refuse_one) as (deployment, _):
        deployment.create()
        until(lambda: all(e.status != "RUNNING" for e in deployment.executions()), "the cohort did not end")
        denied = audit(deployment)
        names = {operation for _, operation, _ in deployment.tracker_calls.calls}

    assert denied == {"handler": [], "tracker": []}, {role: dumps(r) for role, r in denied.items()}
    assert {"StartRunBatch", "ListBatch", "ListRunsInBatch", "PutEvents", "SendTaskSuccess"} <= names


def test_a_deploy_that_starts_a_stopped_tracking_again_calls_only_what_is_granted(stacks: dict[str, Any]) -> None:
    with deployed(*stacks["tracked, cancelled"], refuse_one) as (deployment, tracking):
        mid_resubmission(deployment, tracking)
        sfn, machine = deployment.machine.sfn, deployment.machine.arn
        for execution in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"])  # as a crash or a stop from outside
        deployment.wait_stopped()
        deployment.update(OnDelete="RETAIN")  # changes nothing of the batch: the tracking starts again
        until(tracking.settled, "the restarted tracking did not wait")
        denied = audit(deployment)
        running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
        restarted = [e["name"] for e in running]

    assert restarted == [f"batch-{deployment.first_batch_id}-r1"]
    assert denied == {"handler": [], "tracker": []}, {role: dumps(r) for role, r in denied.items()}


@pytest.mark.parametrize("stack", ["untracked, cancelled", "untracked, deleted"])
def test_an_untracked_batch_and_its_destroy_call_only_what_is_granted(stacks: dict[str, Any], stack: str) -> None:
    """A FAILED batch whose runs did start: the destroy reaches them one by one."""
    with deployed(*stacks[stack], refuse_one) as (deployment, _):
        deployment.create()
        first = deployment.service.batches[str(deployment.first_batch_id)]
        deployment.service.finish(first.id, status="FAILED")
        first.runs[0].status = "RUNNING"
        deployment.destroy()
        denied = audit(deployment)
        names = {operation for _, operation, _ in deployment.handler_calls.calls}

    assert denied == {"handler": []}, dumps(denied["handler"])
    assert {"ListRuns", "CancelRun"} <= names
    # No tracker: the manifest is only looked for (a tracker switched off may have left one), never
    # written, and no execution is listed or stopped.
    assert "ListObjectsV2" in names and not {"PutObject", "ListExecutions", "StopExecution"} & names


def test_the_audit_finds_a_call_the_policies_leave_out(stacks: dict[str, Any]) -> None:
    """The auditor itself: drop the handler's ListBatch statement and the deploy's look-up is denied."""
    with deployed(*stacks["untracked, cancelled"], refuse_one) as (deployment, _):
        deployment.create()
        deployment.template = copy.deepcopy(deployment.template)  # the module's stacks stay as synthesized
        for resource in deployment.template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Policy":
                document = resource["Properties"]["PolicyDocument"]
                document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "FindBatchesAndRuns"]
        denied = audit(deployment)

    assert [str(r).split(" (")[0] for r in denied["handler"]] == ["omics:ListBatch on *"]
