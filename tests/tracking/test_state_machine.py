"""The tracking state machine, executed by moto's ASL interpreter through every path.

The tracker function is played by a script (what it returns is the tracker's contract,
tested on its own in tests/tracker/); ``test_end_to_end.py`` runs the real one.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting
from tests.tracking.harness import ACCOUNT, REGION, LambdaError, Run, definition_of, moto_machine

BATCH = "4455667"
META = {"RequestId": "0a1b2c3d"}  # the real service's errors carry one; moto's cause quotes it
DAY = 24 * 3600


def synth(run_list: list[RunSetting] | None = None, **kwargs: Any) -> dict[str, Any]:
    stack = cdk.Stack(cdk.App(), "Tracked", env=cdk.Environment(account=ACCOUNT, region=REGION))
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id="1234567"),
        runs=run_list or [RunSetting(run_setting_id="NA12878", parameters={"threads": 4})],
        **kwargs,
    )
    return Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return synth()


class ScriptedTracker:
    """Plays the tracker function: ``check`` answers from a script, ``park`` keeps the token."""

    def __init__(self, *statuses: str | LambdaError, clean: bool = True) -> None:
        self.statuses = list(statuses)
        self.clean = clean
        self.calls: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        self.parked = threading.Event()

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(payload)
        action = payload["action"]
        if action == "check":
            answer = self.statuses.pop(0)
            if isinstance(answer, LambdaError):
                raise answer
            return {"status": answer}
        if action == "park":
            self.tokens.append(payload["taskToken"])
            self.parked.set()
            return {}
        assert action == "report", payload
        return {
            "succeeded": self.clean and payload["status"] == "PROCESSED",
            "status": payload["status"],
            "reportJsonUri": f"s3://out/Cohort/batch-reports/batch-{payload['batchId']}/report.json",
        }

    def actions(self) -> list[str]:
        return [c["action"] for c in self.calls]


def run(template: dict[str, Any], tracker: ScriptedTracker, *, backstop: int = 1, **kwargs: Any) -> Run:
    with moto_machine(definition_of(template, backstop_seconds=backstop), tracker, **kwargs) as machine:
        return machine.wait(machine.start(BATCH))


# --- the paths ---------------------------------------------------------------------------


def test_processed_clean_batch_reports_and_succeeds(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker("PROCESSED")
    result = run(template, tracker)
    assert result.status == "SUCCEEDED"
    assert tracker.actions() == ["check", "report"]
    report = tracker.calls[-1]
    assert report["batchId"] == BATCH and report["status"] == "PROCESSED"
    assert report["reportUri"].endswith("/Cohort/batch-reports/")
    assert "settingsUri" not in report  # one run: inline, so the settings travel as exact JSON text
    assert json.loads(report["settings"]) == [{"runSettingId": "NA12878", "parameters": {"threads": 4}}]


def test_processed_with_failed_runs_fails_the_execution_naming_the_report(template: dict[str, Any]) -> None:
    result = run(template, ScriptedTracker("PROCESSED", clean=False))
    assert (result.status, result.error) == ("FAILED", "BatchNotClean")
    assert result.cause == (
        f"Batch {BATCH} ended PROCESSED with failures: see s3://out/Cohort/batch-reports/batch-{BATCH}/report.json"
    )


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED", "RUNS_DELETED", "RUNS_DELETE_FAILED"])
def test_other_terminal_statuses_report_and_fail(template: dict[str, Any], status: str) -> None:
    tracker = ScriptedTracker(status)
    result = run(template, tracker)
    assert (result.status, result.error) == ("FAILED", "BatchNotClean")
    assert tracker.actions() == ["check", "report"]
    assert f"ended {status}" in (result.cause or "")


def test_throttled_poll_is_retried(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker(LambdaError("Throttled", "Rate exceeded"), LambdaError("Throttled"), "PROCESSED")
    result = run(template, tracker)
    assert result.status == "SUCCEEDED"
    assert tracker.actions() == ["check", "check", "check", "report"]


def test_unknown_status_means_not_finished(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker("ARCHIVING", "PROCESSED")
    result = run(template, tracker)
    assert result.status == "SUCCEEDED"
    assert tracker.actions() == ["check", "park", "check", "report"]


def test_vanished_batch_ends_with_a_clear_error(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker(LambdaError("BatchNotFound", f"Batch {BATCH} not found"))
    result = run(template, tracker)
    assert (result.status, result.error) == ("FAILED", "BatchNotFound")
    assert result.cause == f"Batch {BATCH} no longer exists: it was deleted before it finished"
    assert tracker.actions() == ["check"]


def test_delivered_event_resumes_the_parked_tracker_at_once(template: dict[str, Any]) -> None:
    """The backstop is a minute here; the event makes the execution finish in moments."""
    tracker = ScriptedTracker("INPROGRESS", "PROCESSED")
    with moto_machine(definition_of(template, backstop_seconds=60), tracker) as machine:
        execution = machine.start(BATCH)
        assert tracker.parked.wait(10)
        machine.when_parked(
            execution,
            lambda: machine.sfn.send_task_success(taskToken=tracker.tokens[-1], output='{"status": "PROCESSED"}'),
        ).join(10)
        result = machine.wait(execution)
    assert result.status == "SUCCEEDED"
    assert result.count("TaskTimedOut") == 0
    assert result.seconds < 30  # well inside the 60 s backstop: the event, not the timeout, resumed it
    assert tracker.actions() == ["check", "park", "check", "report"]


def test_lost_event_is_caught_by_the_backstop(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker("INPROGRESS", "SUBMITTING", "PROCESSED")
    result = run(template, tracker)
    assert result.status == "SUCCEEDED"
    assert result.count("TaskTimedOut") == 2
    assert tracker.actions() == ["check", "park", "check", "park", "check", "report"]


def test_a_backstop_cycle_stays_within_the_daily_budget(template: dict[str, Any]) -> None:
    """Three transitions and at most 13 history events a cycle: 72 transitions a day at one hour."""
    tracker = ScriptedTracker(*["INPROGRESS"] * 4, "PROCESSED")
    result = run(template, tracker)
    baseline = run(template, ScriptedTracker("PROCESSED"))
    cycles = 4
    per_cycle_transitions = (result.transitions - baseline.transitions) / cycles
    per_cycle_events = (len(result.events) - len(baseline.events)) / cycles
    assert per_cycle_transitions == 3
    assert per_cycle_events <= 13
    assert per_cycle_transitions * DAY / 3600 <= 150  # default backstop: one hour
    assert per_cycle_events * 30 * DAY / 3600 < 25_000 / 2  # a 30-day batch, well below the cap
