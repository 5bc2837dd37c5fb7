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
from moto.events.models import EventPattern

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting, _tracker
from omics_batch_construct_runtime import contract, metrics
from omics_batch_construct_runtime.clients import Clients
from tests.tracking.harness import ACCOUNT, REGION, LambdaError, Run, definition_of, moto_machine, resolve
from tracker.cohort import CHECKS_PER_EXECUTION
from tracker.index import handle

BATCH = "4455667"
META = {"RequestId": "0a1b2c3d"}  # the real service's errors carry one; moto's cause quotes it
DAY = 24 * 3600
HISTORY_CAP = 25_000  # Standard's history events per execution


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
    """Plays the tracker function: ``check`` answers from a script, ``park`` keeps the token.

    A script entry is what a check says of the cohort: "wait" (not done), "again" (more to do at
    once), "done", "continue" (carry on in a fresh execution), or an error to raise.
    """

    def __init__(self, *steps: str | LambdaError, clean: bool = True, status: str = "PROCESSED") -> None:
        self.steps = list(steps)
        self.clean = clean
        self.status = status
        self.calls: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        self.parked = threading.Event()

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(payload)
        action = payload["action"]
        if action == "check":
            step = self.steps.pop(0)
            if isinstance(step, LambdaError):
                raise step
            checks = int((payload["cohort"] or {}).get("checks", 0)) + 1
            return {
                "cohort": {"checks": checks},
                "done": step == "done",
                "again": step == "again",
                "continue": step == "continue",
                "released": step == "released",
            }
        if action == "park":
            self.tokens.append(payload["taskToken"])
            self.parked.set()
            return {}
        if action == "continue":
            return {"continuedAs": f"batch-{payload['batchId']}-1"}
        assert action == "report", payload
        return {
            "succeeded": self.clean,
            "status": self.status,
            "reportJsonUri": f"s3://out/Cohort/batch-reports/batch-{payload['batchId']}/report.json",
        }

    def actions(self) -> list[str]:
        return [c["action"] for c in self.calls]


def through_the_rule(template: dict[str, Any], event: dict[str, Any], detail_type: str) -> dict[str, Any] | None:
    """What the template's rule for ``detail_type`` delivers to its target for ``event`` (None: no match),
    the cohort's first batch being BATCH."""
    batches = [k for k, r in template["Resources"].items() if r["Type"] == "Custom::OmicsRunBatch"]
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        rule = resolve(resource["Properties"], dict.fromkeys(batches, BATCH))
        if detail_type not in rule["EventPattern"].get("detail-type", []):
            continue
        if not EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(event):
            return None
        (target,) = rule["Targets"]
        text = target["InputTransformer"]["InputTemplate"]
        for name, path in target["InputTransformer"]["InputPathsMap"].items():
            value: Any = event
            for key in path.removeprefix("$.").split("."):
                value = value[key]
            text = text.replace(f"<{name}>", json.dumps(value))
        return dict(json.loads(text))
    raise AssertionError(f"the template has no rule for {detail_type}")


def run(template: dict[str, Any], tracker: ScriptedTracker, *, backstop: int = 1) -> Run:
    with moto_machine(definition_of(template, backstop_seconds=backstop), tracker) as machine:
        return machine.wait(machine.start(BATCH))


# --- the paths ---------------------------------------------------------------------------


def test_done_clean_cohort_reports_and_succeeds(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker("done")
    result = run(template, tracker)
    assert result.status == "SUCCEEDED"
    assert tracker.actions() == ["check", "report"]
    first, report = tracker.calls
    assert first["cohort"] == {}  # the deploy's execution begins with an empty cohort
    assert report["batchId"] == BATCH and report["cohort"] == {"checks": 1}  # what the check returned
    config = report["config"]
    assert config["reportUri"].endswith("/Cohort/batch-reports/")
    assert config["resubmission"]["maxAttempts"] == 3  # the default retry policy travels with the cohort
    # One run: inline, so the settings travel as exact JSON text.
    (part,) = config["parts"]
    assert json.loads(part["settings"]) == [{"runSettingId": "NA12878", "parameters": {"threads": 4}}]
    assert json.loads(config["start"])["defaultRunSetting"]["workflowId"] == "1234567"


def test_done_with_failed_runs_fails_the_execution_naming_the_report(template: dict[str, Any]) -> None:
    result = run(template, ScriptedTracker("done", clean=False))
    assert (result.status, result.error) == ("FAILED", "BatchNotClean")
    assert result.cause == (
        f"Batch {BATCH} ended PROCESSED with failures: see s3://out/Cohort/batch-reports/batch-{BATCH}/report.json"
    )


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED", "RUNS_DELETED"])
def test_other_endings_report_and_fail(template: dict[str, Any], status: str) -> None:
    tracker = ScriptedTracker("done", clean=False, status=status)
    result = run(template, tracker)
    assert (result.status, result.error) == ("FAILED", "BatchNotClean")
    assert tracker.actions() == ["check", "report"]
    assert f"ended {status}" in (result.cause or "")


def test_throttled_check_is_retried(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker(LambdaError("Throttled", "Rate exceeded"), LambdaError("Throttled"), "done")
    result = run(template, tracker)
    assert result.status == "SUCCEEDED"
    assert tracker.actions() == ["check", "check", "check", "report"]


def test_a_check_with_more_to_do_checks_again_without_waiting(template: dict[str, Any]) -> None:
    """A batch just started (or a second ended one) is read at once, not after the backstop."""
    tracker = ScriptedTracker("again", "again", "done")
    result = run(template, tracker, backstop=60)
    assert result.status == "SUCCEEDED"
    assert tracker.actions() == ["check", "check", "check", "report"]
    assert [c["cohort"] for c in tracker.calls[:3]] == [{}, {"checks": 1}, {"checks": 2}]  # the state travels
    assert result.seconds < 30


def test_a_cohort_not_done_waits_then_checks(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker("wait", "done")
    result = run(template, tracker)
    assert result.status == "SUCCEEDED"
    assert tracker.actions() == ["check", "park", "check", "report"]
    assert tracker.calls[2]["cohort"] == {"checks": 1}  # the wait keeps the cohort's state


def test_a_long_cohort_carries_on_in_a_fresh_execution(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker("wait", "continue")
    with moto_machine(definition_of(template, backstop_seconds=1), tracker) as machine:
        result = machine.wait(machine.start(BATCH))
        arn = machine.arn
    assert result.status == "SUCCEEDED"
    assert tracker.actions() == ["check", "park", "check", "continue"]
    carry = tracker.calls[-1]
    assert carry["batchId"] == BATCH and carry["cohort"] == {"checks": 2}
    assert carry["stateMachineArn"] == arn  # $$.StateMachine.Id: the execution's own state machine
    assert carry["executionName"] == result.name  # $$.Execution.Name: its lineage goes on


def test_a_cohort_the_stack_let_go_ends_its_execution_quietly(template: dict[str, Any]) -> None:
    """A check refused by the closed manifest (a destroy, a replacement) starts nothing more."""
    tracker = ScriptedTracker("wait", "released")
    result = run(template, tracker)
    assert (result.status, result.error) == ("SUCCEEDED", None)
    assert tracker.actions() == ["check", "park", "check"]  # no report, no event: the stack let go


def test_a_carried_on_execution_starts_from_the_state_it_was_given(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker("done")
    carried = {"checks": 500, "batches": []}
    with moto_machine(definition_of(template, backstop_seconds=1), tracker) as machine:
        arn = machine.sfn.start_execution(
            stateMachineArn=machine.arn,
            name=f"batch-{BATCH}-1",
            input=json.dumps({"batchId": BATCH, "check": {"cohort": carried}}),
        )["executionArn"]
        result = machine.wait(arn)
    assert result.status == "SUCCEEDED"
    assert tracker.calls[0]["cohort"] == carried
    assert "Begin" not in [e.get("stateEnteredEventDetails", {}).get("name") for e in result.events]


def test_vanished_batch_ends_with_a_clear_error(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker(LambdaError("BatchNotFound", f"Batch {BATCH} not found"))
    result = run(template, tracker)
    assert (result.status, result.error) == ("FAILED", "BatchNotFound")
    assert result.cause == f"A batch of cohort {BATCH} no longer exists: it was deleted before it finished"
    assert tracker.actions() == ["check"]


@pytest.mark.parametrize(
    "error",
    [
        LambdaError("Lambda.Unknown", "Task timed out after 900.00 seconds"),  # a timeout or out-of-memory
        LambdaError("ApiError", "GetBatch failed: AccessDeniedException: not authorized"),  # IAM propagating
        LambdaError("SettingsError", "a bug, or a file read at the wrong moment"),
    ],
    ids=["crash", "access denied", "any other error"],
)
def test_three_failed_checks_then_a_clean_end(template: dict[str, Any], error: LambdaError) -> None:
    tracker = ScriptedTracker(error, error, error, "done")
    result = run(template, tracker)
    assert (result.status, result.error) == ("SUCCEEDED", None)
    assert tracker.actions() == ["check"] * 4 + ["report"]
    assert "CheckDelayed" not in entered(result)  # retried within its backoff: nothing to tell


def test_a_check_that_keeps_failing_is_told_and_tried_again_after_the_backstop(
    template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """No fault ends the tracking: past its retries, a "Tracking Delayed" event, a wait, and again."""
    crash = LambdaError("Lambda.Unknown", "Runtime exited with error: signal: killed")
    tracker = ScriptedTracker(*[crash] * 8, "done")
    result = run(template, tracker)
    assert (result.status, result.error) == ("SUCCEEDED", None)
    assert entered(result).count("CheckDelayed") == 1 and "CheckBackoff" in entered(result)
    (delayed,) = [
        e
        for e in result.events
        if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "events"
    ]
    (entry,) = json.loads(delayed["taskScheduledEventDetails"]["parameters"])["Entries"]
    assert entry["DetailType"] == "Omics Run Batch Tracking Delayed" and entry["Source"] == "omics-batch-construct"
    detail = entry["Detail"] if isinstance(entry["Detail"], dict) else json.loads(entry["Detail"])
    assert (detail["batchId"], detail["state"], detail["error"]["Error"]) == (BATCH, "Check", "Lambda.Unknown")
    # The monitoring's rule takes that very event to the tracker, which counts it for the delayed alarm.
    event = {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": detail}
    delivered = through_the_rule(template, event, contract.EVENT_TRACKING_DELAYED)
    assert delivered == {"action": contract.TRACKER_ACTION_DELAYED, "batchId": BATCH, "state": "Check"}
    other = {**event, "detail": {**detail, "batchId": "9999999"}}
    assert through_the_rule(template, other, contract.EVENT_TRACKING_DELAYED) is None  # another cohort's
    handle(delivered, Clients())  # the action calls nothing
    (line,) = [json.loads(out) for out in capsys.readouterr().out.splitlines() if out.startswith('{"_aws"')]
    assert (line["Cohort"], line[metrics.TRACKING_DELAYS]) == (BATCH, 1)


def test_an_execution_delayed_too_often_stops_saying_how_to_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault that lasts weeks must not fill the history (nothing could catch that): the execution
    counts its delays and, past the limit, fails TrackingStalled, naming the command that resumes it."""
    monkeypatch.setattr(_tracker, "MAX_DELAYS", 2)
    crash = LambdaError("Lambda.Unknown", "Runtime exited with error: signal: killed")
    tracker = ScriptedTracker(*[crash] * 20)
    result = run(synth(), tracker)
    assert (result.status, result.error) == ("FAILED", "TrackingStalled")
    assert f"omics-batch resume {BATCH}" in (result.cause or "")
    assert entered(result).count("CheckDelayed") == 2
    assert tracker.actions() == ["check"] * 12  # twice the first try and its five retries


def test_a_failing_report_is_tried_again_too(template: dict[str, Any]) -> None:
    tracker = ScriptedTracker("done")
    reports = iter([LambdaError("Lambda.Unknown", "timed out"), LambdaError("Throttled", "slow down")])
    scripted = tracker.__call__

    def flaky(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["action"] == "report":
            error = next(reports, None)
            if error is not None:
                tracker.calls.append(payload)
                raise error
        return scripted(payload)

    with moto_machine(definition_of(template, backstop_seconds=1), flaky) as machine:
        result = machine.wait(machine.start(BATCH))
    assert (result.status, result.error) == ("SUCCEEDED", None)
    assert tracker.actions() == ["check", "report", "report", "report"]


def entered(result: Run) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in result.events if "stateEnteredEventDetails" in e]


def test_delivered_event_resumes_the_parked_tracker_at_once(template: dict[str, Any]) -> None:
    """The backstop is a minute here; the event makes the execution finish in moments."""
    tracker = ScriptedTracker("wait", "done")
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
    tracker = ScriptedTracker("wait", "wait", "done")
    result = run(template, tracker)
    assert result.status == "SUCCEEDED"
    assert result.count("TaskTimedOut") == 2
    assert tracker.actions() == ["check", "park", "check", "park", "check", "report"]


def test_a_backstop_cycle_stays_within_the_daily_budget(template: dict[str, Any]) -> None:
    """Three transitions and at most 13 history events a cycle: 72 transitions a day at one hour."""
    tracker = ScriptedTracker(*["wait"] * 4, "done")
    result = run(template, tracker)
    baseline = run(template, ScriptedTracker("done"))
    cycles = 4
    per_cycle_transitions = (result.transitions - baseline.transitions) / cycles
    per_cycle_events = (len(result.events) - len(baseline.events)) / cycles
    assert per_cycle_transitions == 3  # WaitForEvent, Check, Next?
    assert per_cycle_events <= 13
    assert per_cycle_transitions * DAY / 3600 <= 150  # default backstop: one hour
    # An execution carries on after CHECKS_PER_EXECUTION checks, far below the history cap.
    assert per_cycle_events * CHECKS_PER_EXECUTION < HISTORY_CAP
