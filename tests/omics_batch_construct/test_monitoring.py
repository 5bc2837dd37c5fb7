"""Template assertions for monitoring: the cohort's dashboard, its four alarms, where they notify,
and the switches (``monitoring=None``, ``dashboard=False``, no tracking)."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from constructs import Construct

from omics_batch_construct import BatchAlarms, BatchValidationError, DefaultRunSetting, Monitoring, OmicsRunBatch
from omics_batch_construct._monitoring import MAX_NAME, monitoring_name
from omics_batch_construct_runtime import contract, metrics
from tests.omics_batch_construct.conftest import ENV, new_stack, runs


def build(run_count: int = 3, stack: cdk.Stack | None = None, **kwargs: Any) -> tuple[OmicsRunBatch, cdk.Stack]:
    stack = stack or new_stack()
    batch = OmicsRunBatch(
        stack,
        "Batch",
        default_run_setting=DefaultRunSetting(workflow_id="1234567"),
        runs=runs(run_count),
        **kwargs,
    )
    return batch, stack


@pytest.fixture(scope="module")
def monitored() -> tuple[OmicsRunBatch, cdk.Stack, Template, sns.Topic]:
    """250 runs, alarms to an encrypted topic of the same app."""
    stack = new_stack()
    topic = sns.Topic(stack, "OnCall", master_key=kms.Key(stack, "TopicKey", enable_key_rotation=True))
    batch, _ = build(250, stack, monitoring=Monitoring(alarm_topic=topic))
    return batch, stack, Template.from_stack(stack), topic


@pytest.fixture(scope="module")
def plain() -> tuple[OmicsRunBatch, cdk.Stack, Template]:
    """The defaults: three runs, no topic."""
    batch, stack = build()
    return batch, stack, Template.from_stack(stack)


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    """The alarms' properties, by the suffix of their name."""
    found = template.find_resources("AWS::CloudWatch::Alarm")
    return {r["Properties"]["AlarmName"].rsplit("-", 1)[1]: r["Properties"] for r in found.values()}


def batch_id(stack: cdk.Stack, batch: OmicsRunBatch) -> Any:
    return stack.resolve(batch.batch_id)


def dashboard_body(stack: cdk.Stack, template: Template) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dashboard's body as JSON, each reference in it replaced by a marker, and the markers."""
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    markers: dict[str, Any] = {}
    text = ""
    for part in body["Fn::Join"][1] if isinstance(body, dict) else [body]:
        if isinstance(part, str):
            text += part
        else:
            marker = f"<ref{len(markers)}>"
            markers[marker] = part
            text += marker
    return json.loads(text), markers


def graph_metrics(body: dict[str, Any]) -> list[list[Any]]:
    return [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]


# --- the alarms ----------------------------------------------------------------------------------


def test_a_tracked_batch_gets_a_dashboard_and_four_alarms_named_after_it(
    plain: tuple[OmicsRunBatch, cdk.Stack, Template],
) -> None:
    batch, _, template = plain
    assert isinstance(batch.alarms, BatchAlarms) and len(list(batch.alarms)) == 4
    assert batch.dashboard is not None
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "Test-Batch"})
    assert sorted(alarms(template)) == ["FailedRuns", "InsightDeadLetters", "TrackingDelayed", "TrackingFailed"]
    assert {a["AlarmName"] for a in alarms(template).values()} == {
        "Test-Batch-FailedRuns",
        "Test-Batch-TrackingFailed",
        "Test-Batch-TrackingDelayed",
        "Test-Batch-InsightDeadLetters",
    }
    for alarm in alarms(template).values():
        assert "AlarmActions" not in alarm  # no topic: shown on the dashboard and in the console
        assert alarm["TreatMissingData"] == "notBreaching"  # these metrics come when something happens
        assert alarm["DatapointsToAlarm"] == 1


def test_failed_runs_alarm_reads_the_trackers_metric_of_this_cohort(
    monitored: tuple[OmicsRunBatch, cdk.Stack, Template, sns.Topic],
) -> None:
    batch, stack, template, _ = monitored
    alarm = alarms(template)["FailedRuns"]
    assert {k: alarm[k] for k in ("Namespace", "MetricName", "Statistic", "Period", "Dimensions")} == {
        "Namespace": metrics.NAMESPACE,
        "MetricName": metrics.RUNS_FAILED,
        "Statistic": "Maximum",  # a gauge: the cohort's total at each check
        "Period": 3600,
        "Dimensions": [{"Name": metrics.COHORT, "Value": batch_id(stack, batch)}],
    }
    # 1 % of 250 runs, rounded down: the alarm goes off at the third failed run.
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (2, "GreaterThanThreshold")
    assert batch.monitoring is not None and batch.monitoring.failed_runs_threshold == 2
    # Looks back over more than the one-hour backstop: a check comes in each window.
    assert alarm["EvaluationPeriods"] == 3
    text = json.dumps(alarm["AlarmDescription"])
    assert "More than 2 runs of the HealthOmics cohort Test/Batch" in text and "omics-batch retry " in text


@pytest.mark.parametrize(("run_count", "threshold"), [(3, 0), (99, 0), (100, 1), (1_000, 10)])
def test_the_default_threshold_is_one_percent_of_the_runs(run_count: int, threshold: int) -> None:
    assert Monitoring().threshold(run_count) == threshold
    assert Monitoring(failed_runs_threshold=25).threshold(run_count) == 25


def test_the_threshold_is_an_argument() -> None:
    _, stack = build(monitoring=Monitoring(failed_runs_threshold=10))
    template = Template.from_stack(stack)
    assert alarms(template)["FailedRuns"]["Threshold"] == 10
    body, _ = dashboard_body(stack, template)
    (runs_graph,) = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Runs")]
    assert runs_graph["properties"]["annotations"]["horizontal"] == [
        {"value": 10, "label": "failed-runs alarm", "yAxis": "left"}
    ]


@pytest.mark.parametrize(("backstop", "hours"), [(cdk.Duration.minutes(30), 3), (cdk.Duration.hours(24), 26)])
def test_per_check_alarms_look_back_over_the_backstop(backstop: cdk.Duration, hours: int) -> None:
    _, stack = build(backstop_interval=backstop)
    found = alarms(Template.from_stack(stack))
    assert found["FailedRuns"]["EvaluationPeriods"] == found["TrackingDelayed"]["EvaluationPeriods"] == hours
    assert hours * 3600 <= 7 * 24 * 3600  # CloudWatch's longest evaluation range


def test_tracking_failed_alarm_is_on_the_state_machines_failed_executions(
    monitored: tuple[OmicsRunBatch, cdk.Stack, Template, sns.Topic],
) -> None:
    batch, stack, template, _ = monitored
    alarm = alarms(template)["TrackingFailed"]
    machine = stack.get_logical_id(batch.tracker.state_machine.node.default_child)  # type: ignore[union-attr]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
        "AWS/States",
        "ExecutionsFailed",
        "Sum",
        300,
    )
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert "BatchNotClean" in json.dumps(alarm["AlarmDescription"]) and "omics-batch resume" in json.dumps(
        alarm["AlarmDescription"]
    )


def test_tracking_delayed_alarm_counts_the_cohorts_delayed_events(
    monitored: tuple[OmicsRunBatch, cdk.Stack, Template, sns.Topic],
) -> None:
    batch, stack, template, _ = monitored
    alarm = alarms(template)["TrackingDelayed"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        metrics.NAMESPACE,
        metrics.TRACKING_DELAYS,
        "Sum",
    )
    assert alarm["Dimensions"] == [{"Name": metrics.COHORT, "Value": batch_id(stack, batch)}]
    # The state machine puts the event; a rule of the monitoring gives it to the tracker to count.
    (rule,) = [
        r["Properties"]
        for r in template.find_resources("AWS::Events::Rule").values()
        if contract.EVENT_TRACKING_DELAYED in r["Properties"]["EventPattern"]["detail-type"]
    ]
    assert rule["EventPattern"] == {
        "source": [contract.EVENT_SOURCE],
        "detail-type": [contract.EVENT_TRACKING_DELAYED],
        "detail": {"batchId": [batch_id(stack, batch)]},
    }
    (target,) = rule["Targets"]
    function = stack.get_logical_id(batch.tracker.function.node.default_child)  # type: ignore[union-attr]
    assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert target["InputTransformer"]["InputPathsMap"] == {
        "detail-batchId": "$.detail.batchId",
        "detail-state": "$.detail.state",
    }
    assert json.loads(
        target["InputTransformer"]["InputTemplate"]
        .replace("<detail-batchId>", '"1"')
        .replace("<detail-state>", '"Check"')
    ) == {"action": contract.TRACKER_ACTION_DELAYED, "batchId": "1", "state": "Check"}


def test_dead_letter_alarm_is_on_the_insight_dead_letter_queue(
    monitored: tuple[OmicsRunBatch, cdk.Stack, Template, sns.Topic],
) -> None:
    batch, stack, template, _ = monitored
    alarm = alarms(template)["InsightDeadLetters"]
    queue = stack.get_logical_id(batch.insight.dead_letter_queue.node.default_child)  # type: ignore[union-attr]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_alarms_notify_the_topic_and_its_key_lets_cloudwatch_use_it(
    monitored: tuple[OmicsRunBatch, cdk.Stack, Template, sns.Topic],
) -> None:
    _, stack, template, topic = monitored
    for alarm in alarms(template).values():
        assert alarm["AlarmActions"] == [stack.resolve(topic.topic_arn)]
    (key,) = [
        r["Properties"]["KeyPolicy"]["Statement"]
        for k, r in template.find_resources("AWS::KMS::Key").items()
        if k.startswith("TopicKey")
    ]
    (statement,) = [s for s in key if s.get("Sid") == "AllowCloudWatchAlarmsToPublish"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_a_topic_with_an_imported_key_is_warned_about() -> None:
    stack = new_stack()
    topic = sns.Topic.from_topic_attributes(
        stack,
        "Imported",
        topic_arn="arn:aws:sns:us-east-1:111122223333:on-call",
        key_arn="arn:aws:kms:us-east-1:111122223333:key/0b0e2b8c-0000-4000-8000-000000000000",
    )
    build(stack=stack, monitoring=Monitoring(alarm_topic=topic))
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("monitoring.alarm_topic is encrypted with an imported key")
    )
    assert len(warnings) == 1


# --- the dashboard ---------------------------------------------------------------------------------


def test_dashboard_shows_the_cohorts_metrics_and_its_resources(
    monitored: tuple[OmicsRunBatch, cdk.Stack, Template, sns.Topic],
) -> None:
    batch, stack, template, _ = monitored
    body, markers = dashboard_body(stack, template)
    assert body["start"] == "-P7D"
    cohort = [m for m, ref in markers.items() if ref == batch_id(stack, batch)]
    shown = graph_metrics(body)
    own = {m[1] for m in shown if m[0] == metrics.NAMESPACE}
    # Every metric the functions publish is on it, each by this cohort only.
    assert own == set(metrics.UNITS)
    assert all(m[3] in cohort for m in shown if m[0] == metrics.NAMESPACE)
    assert [
        w["properties"]["metrics"][0][0] for w in body["widgets"] if "Cost" in w["properties"].get("title", "")
    ] == [{"label": "runs recorded since the start of the range", "expression": "RUNNING_SUM(cost)", "period": 3600}]

    def ref(resource: Any) -> str:
        return json.dumps(stack.resolve(resource), sort_keys=True)

    tracker, insight = batch.tracker, batch.insight
    assert tracker is not None and insight is not None
    services = {
        (m[0], m[1], json.dumps(markers[m[3]], sort_keys=True))
        for m in shown
        if isinstance(m[0], str) and m[0] != metrics.NAMESPACE
    }
    machine = ref(tracker.state_machine.state_machine_arn)
    assert services >= {
        ("AWS/States", "ExecutionsStarted", machine),
        ("AWS/States", "ExecutionsFailed", machine),
        ("AWS/States", "ExecutionsAborted", machine),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", ref(insight.queue.queue_name)),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", ref(insight.dead_letter_queue.queue_name)),
        ("AWS/Lambda", "Errors", ref(tracker.function.function_name)),
        ("AWS/Lambda", "Errors", ref(insight.function.function_name)),
    }
    (status,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == 4
    headers = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert [h.split(" (")[0] for h in headers[1:]] == ["### Runs and cost", "### Tracking", "### Run insight"]
    assert all(w["x"] + w["width"] <= 24 for w in body["widgets"])


def test_dashboard_false_keeps_the_alarms() -> None:
    batch, stack = build(monitoring=Monitoring(dashboard=False))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    assert len(alarms(template)) == 4
    assert batch.dashboard is None and batch.alarms is not None


def test_monitoring_none_makes_neither() -> None:
    batch, stack = build(monitoring=None)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    template.resource_count_is("AWS::CloudWatch::Alarm", 0)
    patterns = [r["Properties"]["EventPattern"] for r in template.find_resources("AWS::Events::Rule").values()]
    assert not [p for p in patterns if contract.EVENT_TRACKING_DELAYED in p.get("detail-type", [])]
    assert batch.dashboard is None and batch.alarms is None


def test_without_tracking_there_is_nothing_to_monitor() -> None:
    batch, stack = build(track_completion=False, retry=None)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    template.resource_count_is("AWS::CloudWatch::Alarm", 0)
    assert batch.dashboard is None and batch.alarms is None


def test_monitoring_asked_for_without_tracking_is_refused_not_dropped() -> None:
    with pytest.raises(BatchValidationError, match=re.escape("monitoring: the dashboard and alarms watch the tracker")):
        build(track_completion=False, retry=None, monitoring=Monitoring(failed_runs_threshold=5))


@pytest.mark.parametrize(
    ("monitoring", "message"),
    [
        ("on", "monitoring: expected a Monitoring or None, got str"),
        (
            Monitoring(failed_runs_threshold=-1),
            "monitoring.failed_runs_threshold: -1; must be a whole number, 0 or more",
        ),
        (Monitoring(failed_runs_threshold=True), "monitoring.failed_runs_threshold: True"),
        (Monitoring(failed_runs_threshold=2.5), "monitoring.failed_runs_threshold: 2.5"),  # type: ignore[arg-type]
        (
            Monitoring(alarm_topic="arn:aws:sns:us-east-1:1:t"),
            "monitoring.alarm_topic: expected an sns.ITopic, got str",
        ),  # type: ignore[arg-type]
        (Monitoring(dashboard="no"), "monitoring.dashboard: expected True or False, got 'no'"),  # type: ignore[arg-type]
    ],
)
def test_bad_monitoring_is_refused_naming_the_field(monitoring: Any, message: str) -> None:
    with pytest.raises(BatchValidationError, match=re.escape(message)):
        build(monitoring=monitoring)


# --- names -----------------------------------------------------------------------------------------


def test_names_say_whose_they_are_in_the_characters_a_dashboard_allows() -> None:
    app = cdk.App()
    named = cdk.Stack(app, "Lab", stack_name="lab-prod", env=ENV)
    batch, _ = build(stack=named)
    assert batch.monitoring is not None and batch.monitoring.name == "lab-prod-Batch"  # the stack's name
    other = cdk.Stack(app, "Other", env=ENV)
    group = Construct(other, "Group")
    assert monitoring_name(Construct(group, "Cohort 7 (re-run)")) == "Other-Group-Cohort-7-re-run"


def test_a_long_path_is_shortened_with_a_hash() -> None:
    scope: Construct = new_stack()
    for index in range(6):
        scope = Construct(scope, "x" * 60 + str(index))
    name = monitoring_name(scope)
    assert len(name) == MAX_NAME and re.fullmatch(r"[A-Za-z0-9_-]+", name)
    sibling = Construct(scope.node.scope, "x" * 60 + "9")  # type: ignore[arg-type]
    assert monitoring_name(sibling) != name
