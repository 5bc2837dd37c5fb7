"""The cohort's dashboard and alarms (``Monitoring``), after cdk-monitoring-constructs' conventions.

- **Names.** ``<stack name>-<path in the stack>`` for the dashboard, and the same with a suffix for
  each alarm (``...-FailedRuns``): they sort together in the console and say whose they are.
- **Alarms.** A description that says what happened and what to do; missing data is not breaching
  (these metrics come when something happens). An alarm on a metric that comes at each check looks
  back over more than the backstop interval (one breaching hour in ``window`` hours): it neither
  flaps between two checks nor stays on once the cohort is done.
- **Dashboard.** A header, the alarms' status, then a row for each part (runs and cost, tracking,
  run insight) under a text header of its own; graphs 5 high, as wide as their row allows.

The cohort's own metrics are the embedded metric format lines of the tracker and the insight
function (``omics_batch_construct_runtime.metrics``); a "Tracking Delayed" event, which the state machine puts
itself, reaches the metrics through a rule of this construct to the tracker's ``delayed`` action.
"""

from __future__ import annotations

import math
import re

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from omics_batch_construct_runtime import contract, metrics

from ._compliance import HIPAA_AND_NIST, acknowledge
from ._factories import allow_on_key
from ._insight import RunInsight
from ._tracker import MAX_DELAYS, BatchTracker
from .monitoring import BatchAlarms, Monitoring

HOUR = Duration.hours(1)
# Alarms on what the services count as it happens (executions, queue depth).
EVENT_PERIOD = Duration.minutes(5)
# Room for the alarm suffixes in the 255 characters of an alarm's name.
MAX_NAME = 200
GRAPH_HEIGHT = 5
FULL_WIDTH = 24

WHY_NO_ALARM_ACTION = (
    "No monitoring.alarm_topic was given: the alarm shows its state on the cohort's dashboard and in "
    "the CloudWatch console; pass alarm_topic to be notified."
)


class BatchMonitoring(Construct):
    """The dashboard and the four alarms of one cohort, and the rule that counts its tracking's delays."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        monitoring: Monitoring,
        cohort: str,
        run_count: int,
        report_uri: str,
        tracker: BatchTracker,
        insight: RunInsight,
        backstop: Duration,
    ) -> None:
        super().__init__(scope, id)
        self._cohort = cohort
        self._path = scope.node.path
        self.name = monitoring_name(scope)
        self.delays_rule = self._count_delays(tracker)
        # Hours an alarm on a per-check metric looks back: a check (or a delay) comes at least once a
        # backstop interval, and a check or a delayed step may take an hour and a half.
        window = math.ceil(backstop.to_seconds() / HOUR.to_seconds()) + 2
        threshold = monitoring.threshold(run_count)
        self.failed_runs_threshold = threshold
        status = f"`omics-batch status {cohort}`"
        self.alarms = BatchAlarms(
            failed_runs=self._alarm(
                "FailedRuns",
                self.metric(metrics.RUNS_FAILED, "Maximum"),
                threshold=threshold,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                periods=window,
                description=(
                    f"More than {threshold} runs of the HealthOmics cohort {self._path} (first batch {cohort}) "
                    f"failed (RunsFailed counts every attempt of a run). {status} and `omics-batch runs {cohort}` "
                    "say which and why; the report's failureReason and failedTask columns too once the cohort "
                    f"ends, and `omics-batch retry {cohort}` writes their settings for a new batch."
                ),
            ),
            tracking_failed=self._alarm(
                "TrackingFailed",
                tracker.state_machine.metric_failed(period=EVENT_PERIOD, statistic="Sum"),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                periods=1,
                description=(
                    f"The tracking of the HealthOmics cohort {self._path} (first batch {cohort}) ended Failed. "
                    "The execution's error says why: BatchNotClean, runs failed (its cause names the report); "
                    "BatchNotFound, a batch of the cohort was deleted; TrackingStalled, fix the cause of its "
                    f"Tracking Delayed events, then `omics-batch resume {cohort}`."
                ),
            ),
            tracking_delayed=self._alarm(
                "TrackingDelayed",
                self.metric(metrics.TRACKING_DELAYS, "Sum"),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                periods=window,
                description=(
                    f"A step of the tracking of the HealthOmics cohort {self._path} (first batch {cohort}) keeps "
                    "failing; it is tried again every backstop interval. Its Tracking Delayed event (error, "
                    "state) and the tracker function's log say why: throttling, AccessDenied, a timeout. "
                    f"After {MAX_DELAYS} delays the execution fails TrackingStalled."
                ),
            ),
            insight_dead_letters=self._alarm(
                "InsightDeadLetters",
                insight.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=EVENT_PERIOD, statistic="Maximum"
                ),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                periods=1,
                description=(
                    f"Ended HealthOmics runs could not be recorded by the run insight of cohort {self._path}: "
                    "their events are in its dead-letter queue (kept 14 days). The insight function's log says why "
                    "(AccessDenied, throttling). The report looks these runs up itself; once the cause is "
                    "fixed, redrive the queue to record them now."
                ),
            ),
        )
        topic = monitoring.alarm_topic
        for alarm in self.alarms:
            if topic is not None:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
            else:
                resource = alarm.node.default_child
                assert resource is not None
                acknowledge(resource, "CloudWatchAlarmAction", WHY_NO_ALARM_ACTION, packs=HIPAA_AND_NIST)
        if topic is not None:
            self._allow_alarms_to_publish(topic)
        self.dashboard = self._dashboard(tracker, insight, report_uri, threshold) if monitoring.dashboard else None

    # --- the metrics ----------------------------------------------------------------------

    def metric(self, name: str, statistic: str, period: Duration = HOUR) -> cloudwatch.Metric:
        """One of the cohort's own metrics (``omics_batch_construct_runtime.metrics``)."""
        return cloudwatch.Metric(
            namespace=metrics.NAMESPACE,
            metric_name=name,
            dimensions_map={metrics.COHORT: self._cohort},
            statistic=statistic,
            period=period,
        )

    def _count_delays(self, tracker: BatchTracker) -> events.Rule:
        """The cohort's "Tracking Delayed" events, each counted by the tracker (its ``delayed`` action
        calls nothing, so the count comes whatever keeps the step failing)."""
        return events.Rule(
            self,
            "DelaysRule",
            description="The tracking of an OmicsRunBatch cohort was delayed: counted as a metric for its alarm",
            event_pattern=events.EventPattern(
                source=[contract.EVENT_SOURCE],
                detail_type=[contract.EVENT_TRACKING_DELAYED],
                detail={"batchId": [self._cohort]},
            ),
            targets=[
                targets.LambdaFunction(
                    tracker.function,
                    event=events.RuleTargetInput.from_object(
                        {
                            "action": contract.TRACKER_ACTION_DELAYED,
                            "batchId": events.EventField.from_path("$.detail.batchId"),
                            "state": events.EventField.from_path("$.detail.state"),
                        }
                    ),
                    retry_attempts=8,
                    max_event_age=HOUR,
                )
            ],
        )

    # --- the alarms -----------------------------------------------------------------------

    def _alarm(
        self,
        suffix: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        periods: int,
        description: str,
    ) -> cloudwatch.Alarm:
        """An alarm named after the cohort, that goes off when one of its last ``periods`` periods breaches."""
        return cloudwatch.Alarm(
            self,
            suffix,
            alarm_name=f"{self.name}-{suffix}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _allow_alarms_to_publish(self, topic: sns.ITopic) -> None:
        """An encrypted topic takes CloudWatch's messages only if its key lets CloudWatch use it."""
        key = topic.master_key
        if key is None:
            return
        allow_on_key(
            self,
            key,
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            ),
            "omics-batch-construct:AlarmTopicKeyPolicy",
            "monitoring.alarm_topic is encrypted with an imported key: its key policy must let "
            "cloudwatch.amazonaws.com use it (kms:Decrypt, kms:GenerateDataKey) or the alarms cannot notify.",
        )

    # --- the dashboard --------------------------------------------------------------------

    def _dashboard(
        self, tracker: BatchTracker, insight: RunInsight, report_uri: str, threshold: int
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self.name,
            default_interval=Duration.days(7),
        )
        cohort = self._cohort
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    f"# HealthOmics cohort {self._path}\n"
                    f"First batch **{cohort}**: `omics-batch status {cohort}`. Report and records under "
                    f"`{report_uri}batch-{cohort}/`."
                ),
                width=FULL_WIDTH,
                height=2,
            ),
            cloudwatch.AlarmStatusWidget(alarms=list(self.alarms), title="Alarms", width=FULL_WIDTH, height=3),
        )
        dashboard.add_widgets(
            _header("Runs and cost", "(the tracker at each check; cost as runs end and at the report)")
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs, every attempt (at each check)",
                left=[
                    self.metric(metrics.RUNS_COMPLETED, "Maximum").with_(label="completed"),
                    self.metric(metrics.RUNS_FAILED, "Maximum").with_(label="failed"),
                    self.metric(metrics.RUNS_NOT_FINISHED, "Maximum").with_(label="not finished"),
                    self.metric(metrics.SUBMISSIONS_FAILED, "Maximum").with_(label="submissions failed"),
                ],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=threshold, label="failed-runs alarm")],
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                width=FULL_WIDTH // 2,
                height=GRAPH_HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Cost (USD, list prices)",
                left=[
                    cloudwatch.MathExpression(
                        expression="RUNNING_SUM(cost)",
                        using_metrics={"cost": self.metric(metrics.RUN_COST_USD, "Sum")},
                        label="runs recorded since the start of the range",
                        period=HOUR,
                    ),
                    self.metric(metrics.COST_USD, "Maximum").with_(label="the cohort, at its report"),
                ],
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                width=FULL_WIDTH // 2,
                height=GRAPH_HEIGHT,
            ),
        )
        machine, function = tracker.state_machine, tracker.function
        third = FULL_WIDTH // 3
        dashboard.add_widgets(_header("Tracking", "(the state machine and the tracker function)"))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Executions",
                left=[
                    machine.metric_started(period=HOUR, label="started"),
                    machine.metric_succeeded(period=HOUR, label="succeeded"),
                    machine.metric_failed(period=HOUR, label="failed"),
                    machine.metric_aborted(period=HOUR, label="aborted"),
                ],
                width=third,
                height=GRAPH_HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Tracking delays",
                left=[self.metric(metrics.TRACKING_DELAYS, "Sum").with_(label="Tracking Delayed events")],
                width=third,
                height=GRAPH_HEIGHT,
            ),
            _function_graph("Tracker function", function),
        )
        dashboard.add_widgets(_header("Run insight", "(the queue of ended runs and the insight function)"))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue: age of the oldest message (s)",
                left=[insight.queue.metric_approximate_age_of_oldest_message(period=HOUR, statistic="Maximum")],
                width=third,
                height=GRAPH_HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue: messages",
                left=[
                    insight.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=HOUR, statistic="Maximum"
                    )
                ],
                width=third,
                height=GRAPH_HEIGHT,
            ),
            _function_graph("Insight function", insight.function),
        )
        return dashboard


def _header(title: str, what: str) -> cloudwatch.TextWidget:
    return cloudwatch.TextWidget(markdown=f"### {title} {what}", width=FULL_WIDTH, height=1)


def _function_graph(title: str, function: lambda_.IFunction) -> cloudwatch.GraphWidget:
    errors = function.metric_errors(period=HOUR, label="errors")
    throttles = function.metric_throttles(period=HOUR, label="throttles")
    return cloudwatch.GraphWidget(
        title=f"{title}: errors", left=[errors, throttles], width=FULL_WIDTH // 3, height=GRAPH_HEIGHT
    )


def monitoring_name(construct: Construct) -> str:
    """The dashboard's name, and the alarms' prefix: the stack's name and the construct's path in it,
    in the characters a dashboard's name allows (shortened, with a hash, past ``MAX_NAME``)."""
    stack = Stack.of(construct)
    path = construct.node.path
    inside = path[len(stack.node.path) + 1 :] if path.startswith(stack.node.path + "/") else path
    stack_name = stack.stack_name if not Token.is_unresolved(stack.stack_name) else stack.node.path
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{stack_name}-{inside}").strip("-")
    if len(name) > MAX_NAME:
        name = f"{name[: MAX_NAME - 9]}-{construct.node.addr[:8]}"
    return name
