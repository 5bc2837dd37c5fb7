"""Tracking that heals, from ``cdk synth`` to the report: the template's own state machine, the
real tracker, and the faults the service documents (``deployment.py`` says what is real).

- a batch the tracker started FAILED with HealthOmics' transient failure, before it submitted a
  run: it is submitted again, and the cohort ends clean;
- GetBatch refused (AccessDenied, as while IAM propagates) for a while: the tracker retries;
- an execution stopped from outside (a crash, a destroy's stop of a cohort a revert took back):
  ``omics-batch resume`` starts it again, and the cohort ends with one report and one event.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from omics_batch_cli import main as cli
from omics_batch_construct import RunSetting
from omics_batch_construct_runtime import contract
from tests.standin.healthomics import Batch
from tests.tracking.deployment import Deployment, Ending, deployed, synthesized, until

SAMPLES = ("NA12878", "NA12891", "NA12892")
TRANSIENT = "There was a transient error in the service. Retry the batch."


@pytest.fixture(scope="module")
def stack() -> tuple[dict[str, Any], Path]:
    return synthesized([RunSetting(run_setting_id=s, parameters={"sample": f"s3://in/{s}.bam"}) for s in SAMPLES])


def ended(deployment: Deployment) -> bool:
    listed = deployment.machine.sfn.list_executions(stateMachineArn=deployment.machine.arn)["executions"]
    return bool(listed) and all(e["status"] != "RUNNING" for e in listed)


def completions(deployment: Deployment) -> list[dict[str, Any]]:
    """The completion events the tracker put."""
    return [
        entry
        for service, operation, params in deployment.tracker_calls.calls
        if (service, operation) == ("events", "PutEvents")
        for entry in params["Entries"]
        if entry["DetailType"] == contract.EVENT_DETAIL_TYPE
    ]


def test_a_tracker_started_batch_that_failed_transiently_is_submitted_again_and_ends_clean(stack: Any) -> None:
    def script(batch: Batch, part: int, attempt: int) -> Ending:
        if attempt == 1:
            return Ending(refused={"NA12891": "ServiceQuotaExceededException"})
        if attempt == 2:  # the resubmission: the service failed it before it submitted anything
            return Ending(status="FAILED", failure_reason=TRANSIENT, submitted=False)
        return Ending()

    with deployed(*stack, script) as (deployment, _):
        deployment.create()
        until(lambda: ended(deployment), "the cohort did not end")
        batches = deployment.service.started()
        (execution,) = deployment.executions()

    assert (execution.status, execution.error) == ("SUCCEEDED", None)
    assert [b.request.get("batchName", "").rsplit("-", 1)[-1] for b in batches[1:]] == ["p0a2", "p0a3"]
    assert [e["runSettingId"] for e in batches[2].settings] == ["NA12891"]  # what attempt 2 never submitted


def test_a_tracker_refused_reads_for_a_while_goes_on_to_a_clean_end(stack: Any) -> None:
    with deployed(*stack, lambda batch, part, attempt: Ending()) as (deployment, _):
        deployment.create()
        deployment.service.fail("GetBatch", "AccessDeniedException", 403, times=2, message="not authorized yet")
        until(lambda: ended(deployment), "the cohort did not end")
        (execution,) = deployment.executions()
        refused = [
            e for e in execution.events if e["type"] == "TaskFailed" and "AccessDenied" in json.dumps(e, default=str)
        ]

    assert (execution.status, execution.error) == ("SUCCEEDED", None)
    assert len(refused) == 2  # each a failed Check, tried again


def test_a_stopped_tracking_is_resumed_by_the_command_to_one_report_and_one_event(stack: Any) -> None:
    hold = {"on": True}

    def script(batch: Batch, part: int, attempt: int) -> Ending:
        return Ending(refused={"NA12891": "ServiceQuotaExceededException"}) if attempt == 1 else Ending()

    with deployed(*stack, script) as (deployment, tracking):
        tracking.hold = lambda part, attempt: hold["on"]
        deployment.create()
        until(tracking.settled, "the tracker did not wait")
        sfn, machine = deployment.machine.sfn, deployment.machine.arn
        (running,) = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
        sfn.stop_execution(executionArn=running["executionArn"], cause="a crash, as far as anyone knows")
        deployment.wait_stopped()
        first = str(deployment.first_batch_id)

        dry = run_cli(deployment, "resume", first, "--dry-run")
        assert (dry.code, dry.out.strip()) == (
            0,
            f"would start execution batch-{first}-r1 of {machine} for cohort {first}",
        )
        assert sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"] == []

        hold["on"] = False
        resumed = run_cli(deployment, "resume", first)
        until(lambda: ended(deployment), "the resumed cohort did not end")
        again = run_cli(deployment, "resume", first)
        statuses = {e.name: e.status for e in deployment.executions()}
        events = completions(deployment)

    assert (resumed.code, resumed.out.strip()) == (0, f"cohort {first}: started batch-{first}-r1")
    assert statuses == {f"batch-{first}": "ABORTED", f"batch-{first}-r1": "SUCCEEDED"}
    assert len(events) == 1 and json.loads(events[0]["Detail"])["succeeded"] is True
    assert (again.code, again.err.strip()) == (
        1,
        f"cohort {first} was tracked to its report already: nothing to resume",
    )


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def run_cli(deployment: Deployment, *argv: str) -> Result:
    """The command, with the deployment's clients (an operator's, in the same account)."""
    made = {
        "omics": deployment.clients.omics,
        "s3": deployment.clients.s3,
        "stepfunctions": deployment.clients.stepfunctions,
    }
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), clients=made.__getitem__, sleep=lambda _: None, stdout=stdout, stderr=stderr)
    return Result(code, stdout.getvalue(), stderr.getvalue())
