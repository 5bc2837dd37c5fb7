"""Template assertions for completion tracking: the rule, the permissions, the switches."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from omics_batch_construct import BatchValidationError, DefaultRunSetting, OmicsRunBatch, RunSetting
from omics_batch_construct_runtime import contract, lifecycle
from tests.omics_batch_construct.conftest import dumps, new_stack, only_batch_properties, policy_statements, runs


@pytest.fixture(scope="module")
def tracked() -> tuple[OmicsRunBatch, Template, cdk.Stack]:
    stack = new_stack()
    topic = sns.Topic(stack, "Topic")
    batch = OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id="1234567"),
        runs=runs(2),
        notification_topic=topic,
    )
    batch.on_completed("Done", target=targets.SqsQueue(sqs.Queue(stack, "Next", enforce_ssl=True)))
    return batch, Template.from_stack(stack), stack


def batch_id_ref(stack: cdk.Stack, batch: OmicsRunBatch) -> Any:
    return stack.resolve(batch.batch_id)


def rules(template: Template) -> dict[str, Any]:
    return template.find_resources("AWS::Events::Rule")


def test_rule_resumes_the_tracker_when_a_batch_of_the_cohort_ends_or_has_submitted(
    tracked: tuple[OmicsRunBatch, Template, cdk.Stack],
) -> None:
    batch, template, stack = tracked
    (rule,) = [r for k, r in rules(template).items() if "TerminalStatus" in k]
    first = batch_id_ref(stack, batch)
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.omics"],
        "detail-type": ["RunBatch Status Change"],
        "detail": {
            "status": sorted(lifecycle.TERMINAL | {"INPROGRESS"}),
            # The first batch by id; those the tracker starts by the name it gives them.
            "$or": [{"batchId": [first]}, {"batchName": [{"prefix": {"Fn::Join": ["", ["c", first, "-"]]}}]}],
        },
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [stack.get_logical_id(batch.tracker.function.node.default_child), "Arn"]}
    text = dumps(target["InputTransformer"]["InputTemplate"])
    assert '{\\"action\\":\\"resume\\",\\"stateMachineArn\\":' in text
    assert '\\"cohortBatchId\\":' in text
    assert stack.get_logical_id(batch.tracker.state_machine.node.default_child) in text
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8


def test_on_tracking_delayed_matches_what_the_state_machine_says_of_this_cohort() -> None:
    stack = cdk.Stack(cdk.App(), "Late", env=cdk.Environment(account="111122223333", region="us-east-1"))
    batch = OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id="1234567"),
        runs=[RunSetting(run_setting_id="a")],
    )
    batch.on_tracking_delayed("Late", target=targets.SqsQueue(sqs.Queue(stack, "Ops", enforce_ssl=True)))
    template = Template.from_stack(stack)
    pattern = {
        "source": [contract.EVENT_SOURCE],
        "detail-type": ["Omics Run Batch Tracking Delayed"],
        "detail": {"batchId": [{"Fn::GetAtt": [stack.get_logical_id(batch.resource.node.default_child), "BatchId"]}]},  # type: ignore[arg-type]
    }
    template.has_resource_properties("AWS::Events::Rule", {"EventPattern": pattern})
    # What the state machine puts: the same source and detail-type.
    assert "Omics Run Batch Tracking Delayed" in dumps(template.find_resources("AWS::StepFunctions::StateMachine"))


def test_on_completed_matches_this_batchs_completion_event(tracked: tuple[OmicsRunBatch, Template, cdk.Stack]) -> None:
    batch, template, stack = tracked
    (rule,) = [r for k, r in rules(template).items() if "Done" in k]
    assert rule["Properties"]["EventPattern"] == {
        "source": [contract.EVENT_SOURCE],
        "detail-type": [contract.EVENT_DETAIL_TYPE],
        "detail": {"batchId": [batch_id_ref(stack, batch)]},
    }
    queue = stack.node.find_child("Next").node.default_child
    assert stack.get_logical_id(queue) in dumps(rule["Properties"]["Targets"])


def test_the_handler_starts_this_tracker_and_only_it(tracked: tuple[OmicsRunBatch, Template, cdk.Stack]) -> None:
    batch, template, stack = tracked
    machine = stack.resolve(batch.state_machine.state_machine_arn)  # type: ignore[union-attr]
    assert only_batch_properties(template)[contract.PROP_TRACKER_ARN] == machine
    starts = [s for s in policy_statements(template, "Handler") if "states:StartExecution" in s["Action"]]
    assert [s["Resource"] for s in starts] == [machine]
    assert sorted(starts[0]["Action"]) == ["states:ListExecutions", "states:StartExecution"]
    # A destroy stops this machine's executions (and no other's) before it deletes the cohort.
    (stops,) = [s for s in policy_statements(template, "Handler") if s["Action"] == "states:StopExecution"]
    assert stack.get_logical_id(batch.state_machine.node.default_child) in dumps(stops["Resource"])  # type: ignore[union-attr]


def test_tracker_permissions(tracked: tuple[OmicsRunBatch, Template, cdk.Stack]) -> None:
    _, template, stack = tracked
    statements = policy_statements(template, "CohortTracker")
    by_action: dict[str, list[Any]] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            by_action.setdefault(action, []).append(statement["Resource"])
    assert set(by_action) >= {
        "omics:GetBatch",
        "omics:ListRunsInBatch",
        "omics:ListRuns",
        "s3:PutObject",
        "events:PutEvents",
        "sns:Publish",
        "states:GetExecutionHistory",
        "states:SendTaskSuccess",
        "lambda:InvokeFunction",  # the state machine's role invoking the tracker
    }
    # The function publishes the completion; the state machine itself that tracking is delayed.
    assert by_action["sns:Publish"] == [{"Ref": stack.get_logical_id(template_topic(stack))}] * 2
    assert by_action["omics:ListRuns"] == ["*"]  # no resource-level permissions for ListRuns
    assert ":event-bus/default" in dumps(by_action["events:PutEvents"])
    assert "OutputBucket" in dumps(by_action["s3:PutObject"])


def template_topic(stack: cdk.Stack) -> Any:
    return stack.node.find_child("Topic").node.default_child


def test_tracking_off_deploys_no_state_machine() -> None:
    stack = new_stack()
    batch = OmicsRunBatch(
        stack, "Cohort", default_run_setting=DefaultRunSetting(workflow_id="1"), runs=runs(1), track_completion=False
    )
    template = Template.from_stack(stack)
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    assert [k for k in machines if "Tracker" in k] == []
    assert rules(template) == {}
    assert contract.PROP_TRACKER_ARN not in only_batch_properties(template)
    assert batch.state_machine is None
    with pytest.raises(BatchValidationError, match="on_completed: this batch has track_completion=False"):
        batch.on_completed("Done")
    with pytest.raises(BatchValidationError, match="on_tracking_delayed: this batch has track_completion=False"):
        batch.on_tracking_delayed("Late")


@pytest.mark.parametrize("minutes", [29, 24 * 60 + 1])
def test_backstop_outside_its_bounds_is_refused(minutes: int) -> None:
    with pytest.raises(BatchValidationError, match=r"backstop_interval: .* must be from 30 minutes to 1 day"):
        OmicsRunBatch(
            new_stack(),
            "Cohort",
            default_run_setting=DefaultRunSetting(workflow_id="1"),
            runs=runs(1),
            backstop_interval=cdk.Duration.minutes(minutes),
        )


def test_backstop_is_the_wait_tasks_timeout() -> None:
    stack = new_stack()
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id="1"),
        runs=runs(1),
        backstop_interval=cdk.Duration.hours(2),
    )
    template = Template.from_stack(stack).to_json()
    (machine,) = [
        r
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and "Tracker" in k
    ]
    text = json.dumps(machine["Properties"]["DefinitionString"])
    assert '\\"WaitForEvent\\":{' in text
    assert '\\"TimeoutSeconds\\":7200' in text
