"""A cohort from ``cdk synth`` to its report: the deploy's handler, the state machine, the tracker.

See ``deployment.py`` for what is real (all the code, the template, the rule's pattern and
input) and what stands in for the services. Each test deploys a small cohort, lets its
batches end as the test says, and reads what the user gets: the batches HealthOmics was
asked for, the execution's outcome, the report, the retry file and the manifest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from omics_batch_construct import OnDelete, RetryPolicy, RunSetting
from omics_batch_construct_runtime import contract, layout
from tests.standin.healthomics import Batch
from tests.tracking.deployment import QUERY_SECONDS, Deployment, Ending, Tracking, deployed, synthesized
from tracker import cohort

SAMPLES = ("NA12878", "NA12891", "NA12892")
QUOTA = "ServiceQuotaExceededException"


def settings(sample: str) -> dict[str, Any]:
    return {"runSettingId": sample, "parameters": {"sample": f"s3://in/{sample}.bam"}}


def synth(**kwargs: Any) -> tuple[dict[str, Any], Path]:
    return synthesized(
        [RunSetting(run_setting_id=s, parameters={"sample": f"s3://in/{s}.bam"}) for s in SAMPLES], **kwargs
    )


@pytest.fixture(scope="module")
def stacks() -> dict[str, tuple[dict[str, Any], Path]]:
    """The stacks the tests deploy, synthesized once (one jsii process, a second each)."""
    return {
        "default": synth(),
        "retry off": synth(retry=None),
        "failed runs too": synth(retry=RetryPolicy(max_attempts=2, failed_runs=True)),
        "cancel on delete": synth(on_delete=OnDelete.CANCEL_RUNS),
        "delete on delete": synth(on_delete=OnDelete.DELETE_RUNS_AND_BATCH),
    }


def ends(**by_attempt: Ending) -> Callable[[Batch, int, int], Ending]:
    """A script by attempt (``a1``, ``a2``, ..): unnamed attempts end clean."""
    return lambda batch, part, attempt: by_attempt.get(f"a{attempt}", Ending())


def refused(sample: str, reason: str = QUOTA) -> Ending:
    return Ending(refused={sample: reason})


class Outcome:
    """What the user has once the cohort's tracking ended: executions, batches, the cohort's files."""

    FILES = ("report.json", "retry-settings.json", layout.MANIFEST)

    def __init__(self, deployment: Deployment) -> None:
        self.executions = deployment.executions()
        self.last = self.executions[-1]
        self.batches = deployment.service.started()
        report_uri = deployment.properties()[contract.PROP_REPORT_URI]
        bucket, _, folder = report_uri.removeprefix("s3://").partition("/")
        s3, prefix = deployment.clients.s3, f"{folder}batch-{deployment.first_batch_id}/"
        listed = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}
        self.files = {
            name: json.loads(s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read())
            for name in self.FILES
            if prefix + name in listed
        }

    def report(self) -> list[tuple[str, str, str, str]]:
        rows = self.files["report.json"]
        return [(r["runSettingId"], r["submissionStatus"], r["runStatus"], r["attempt"]) for r in rows]


def follow(stack: tuple[dict[str, Any], Path], script: Callable[..., Ending], **options: Any) -> Outcome:
    with deployed(*stack, script, **options) as (deployment, _):
        deployment.create()
        return Outcome(deployment)


# --- resubmission ----------------------------------------------------------------------------


def test_quota_refusals_are_resubmitted_and_the_cohort_ends_clean(stacks: dict[str, Any]) -> None:
    outcome = follow(stacks["default"], ends(a1=refused("NA12891")))
    assert (outcome.last.status, outcome.last.error) == ("SUCCEEDED", None)
    first, again = outcome.batches
    assert [e["runSettingId"] for e in again.settings] == ["NA12891"]
    assert again.settings == [settings("NA12891")]  # the original settings entry, exactly
    assert again.request["batchName"] == contract.cohort_batch_name(first.id, 0, 2)
    assert again.tags[contract.COHORT_TAG] == first.id
    assert again.request["defaultRunSetting"] == first.request["defaultRunSetting"]
    assert outcome.report() == [
        ("NA12878", "SUCCESS", "COMPLETED", "1"),
        ("NA12891", "SUCCESS", "COMPLETED", "2"),
        ("NA12892", "SUCCESS", "COMPLETED", "1"),
    ]
    assert "retry-settings.json" not in outcome.files  # nothing is left to retry
    manifest = outcome.files[layout.MANIFEST]
    assert manifest["done"] is True
    assert [b["batchId"] for b in manifest["batches"]] == [first.id, again.id]


def test_a_refusal_that_needs_the_input_fixed_is_not_resubmitted(stacks: dict[str, Any]) -> None:
    outcome = follow(stacks["default"], ends(a1=refused("NA12891", "ValidationException")))
    assert (outcome.last.status, outcome.last.error) == ("FAILED", "BatchNotClean")
    assert len(outcome.batches) == 1
    assert ("NA12891", "FAILED", "", "1") in outcome.report()
    assert outcome.files["retry-settings.json"] == [settings("NA12891")]


def test_resubmission_stops_after_the_policys_attempts(stacks: dict[str, Any]) -> None:
    always = refused("NA12891")
    outcome = follow(stacks["default"], ends(a1=always, a2=always, a3=always))
    assert (outcome.last.status, outcome.last.error) == ("FAILED", "BatchNotClean")
    assert [len(b.settings) for b in outcome.batches] == [3, 1, 1]  # three submissions, then no more
    assert ("NA12891", "FAILED", "", "3") in outcome.report()
    assert outcome.files["retry-settings.json"] == [settings("NA12891")]
    assert str(outcome.batches[0].id) in (outcome.last.cause or "")


def test_with_retry_off_nothing_is_resubmitted(stacks: dict[str, Any]) -> None:
    outcome = follow(stacks["retry off"], ends(a1=refused("NA12891")))
    assert (outcome.last.status, outcome.last.error) == ("FAILED", "BatchNotClean")
    assert len(outcome.batches) == 1
    assert outcome.files["retry-settings.json"] == [settings("NA12891")]


def test_failed_runs_are_resubmitted_when_the_policy_says_so(stacks: dict[str, Any]) -> None:
    outcome = follow(stacks["failed runs too"], ends(a1=Ending(failed=frozenset({"NA12878"}))))
    assert outcome.last.status == "SUCCEEDED"
    assert [e["runSettingId"] for e in outcome.batches[1].settings] == ["NA12878"]
    assert ("NA12878", "SUCCESS", "COMPLETED", "2") in outcome.report()


def test_a_lost_event_is_caught_by_the_backstop(stacks: dict[str, Any]) -> None:
    with deployed(*stacks["default"], ends(a1=refused("NA12891")), backstop_seconds=1) as (deployment, tracking):
        tracking.deliver = False
        deployment.create()
        outcome = Outcome(deployment)
    assert outcome.last.status == "SUCCEEDED"
    assert len(outcome.batches) == 2
    assert outcome.last.count("TaskTimedOut") >= 2 and not deployment.delivered


def test_events_of_the_cohort_reach_the_tracker_and_others_do_not(stacks: dict[str, Any]) -> None:
    with deployed(*stacks["default"], ends(a1=refused("NA12891"))) as (deployment, _):
        first = deployment.create()
        outcome = Outcome(deployment)
        stranger = deployment.service.StartRunBatch(
            {
                "requestId": "other",
                "defaultRunSetting": {"workflowId": "1", "roleArn": "r"},
                "batchRunSettings": {"inlineSettings": [settings("X")]},
            }
        )
        deployment.service.set_status(stranger["id"], "PROCESSED")
        deployment.announce(deployment.service.batches[stranger["id"]])
    assert outcome.last.status == "SUCCEEDED"
    assert outcome.last.count("TaskTimedOut") == 0  # every wait was ended by an event
    woken = {(e["detail"]["batchId"], e["detail"]["status"]) for e in deployment.delivered}
    assert (first, "INPROGRESS") in woken and (first, "PROCESSED") in woken
    assert (outcome.batches[1].id, "PROCESSED") in woken  # by its name's cohort prefix
    assert all(e["cohortBatchId"] == first for e in deployment.delivered)
    assert [e["detail"]["batchId"] for e in deployment.unmatched] == [stranger["id"]]


def test_a_long_cohort_carries_on_in_a_fresh_execution(stacks: dict[str, Any], monkeypatch: Any) -> None:
    monkeypatch.setattr(cohort, "CHECKS_PER_EXECUTION", 2)
    outcome = follow(stacks["default"], ends(a1=refused("NA12891")))
    names = [run.name for run in outcome.executions]
    first = outcome.batches[0].id
    assert names[:2] == [f"batch-{first}", f"batch-{first}-1"]
    assert [run.status for run in outcome.executions] == ["SUCCEEDED"] * len(names)
    assert outcome.report()[1] == ("NA12891", "SUCCESS", "COMPLETED", "2")


# --- a destroy stops the whole cohort ----------------------------------------------------------


@pytest.fixture
def cohort_mid_resubmission(stacks: dict[str, Any], request: Any) -> Iterator[tuple[Deployment, Tracking]]:
    """A cohort whose resubmission runs on (it never ends by itself), with the tracker waiting."""
    with deployed(*stacks[request.param], ends(a1=refused("NA12891"))) as (deployment, tracking):
        tracking.hold = lambda part, attempt: attempt == 2
        deployment.create()
        deadline = time.monotonic() + 20
        while not (len(deployment.service.started()) == 2 and tracking.settled()):
            assert time.monotonic() < deadline, "the resubmission did not start"
            time.sleep(0.05)
        assert deployment.service.started()[1].status == "INPROGRESS"
        yield deployment, tracking


@pytest.mark.parametrize("cohort_mid_resubmission", ["cancel on delete"], indirect=True)
def test_a_destroy_stops_tracking_and_cancels_the_resubmission(cohort_mid_resubmission: Any) -> None:
    deployment, _ = cohort_mid_resubmission
    polls = deployment.destroy()
    first, again = deployment.service.started()
    assert (first.status, again.status) == ("PROCESSED", "CANCELLED")
    # Done once the batches stopped (the resubmission stops by the next poll): the closed manifest
    # refuses any start a check still under way would make, so nothing is waited out.
    assert (polls - 1) * QUERY_SECONDS <= 2 * 60
    (execution,) = deployment.executions()
    assert execution.status == "ABORTED"
    assert "CancelRunBatch" in deployment.service.names()


@pytest.mark.parametrize("cohort_mid_resubmission", ["delete on delete"], indirect=True)
def test_a_destroy_deletes_every_batch_of_the_cohort(cohort_mid_resubmission: Any) -> None:
    deployment, _ = cohort_mid_resubmission
    deployment.destroy()
    assert [b.deleted for b in deployment.service.started()] == [True, True]


@pytest.mark.parametrize("cohort_mid_resubmission", ["default"], indirect=True)
def test_a_destroy_that_retains_stops_tracking_and_leaves_the_batches_running(cohort_mid_resubmission: Any) -> None:
    deployment, _ = cohort_mid_resubmission
    polls = deployment.destroy()
    first, again = deployment.service.started()
    assert (first.status, again.status) == ("PROCESSED", "INPROGRESS")  # retained, as the stack says
    assert polls == 1
    (execution,) = deployment.executions()
    assert execution.status == "ABORTED"  # and nothing starts another batch of the cohort
