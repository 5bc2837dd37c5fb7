"""Completion tracking: a Standard state machine that follows a cohort's batches to their end.

The design is event driven with a slow poll as the backstop, because pure polling cannot
be both quick and cheap: polling every 5 minutes costs about 900 state transitions a day
and passes Standard's 25,000 history events within a month.

    Check ──done──▶ Report ──clean──▶ Succeed
      ▲  ├─more to do at once (a batch just started, another ended)─┐
      │  ├─500 checks──▶ CarryOn (a fresh execution goes on) ─▶ Succeed
      └──┴─otherwise──▶ WaitForEvent (event, or the backstop)
    Check ──a batch gone──▶ Fail (BatchNotFound)
    Check ──the stack let the cohort go (its manifest is closed)──▶ Succeed (Released)
    Check, Report, CarryOn ──any error, retried 5 times──▶ <state>Delayed (event) ─▶ wait the backstop ─▶ again
      (the 400th delay of an execution fails it, TrackingStalled: a deploy or `omics-batch resume` goes on)

``Check`` is the tracker function (``lambda/tracker/cohort.py``): it reads the cohort's
unfinished batches, then starts one that is due (a later part, a resubmission) or settles
one that ended, never both, and returns the cohort's small state, which the execution carries.
``WaitForEvent`` parks the execution on a task token, with the backstop interval as its
timeout. HealthOmics' "RunBatch Status Change" event for a batch of the cohort reaches the
tracker function through an EventBridge rule; the function finds the cohort's running
execution and its parked token and resumes it at once. When the event is lost (delivery
is best effort), the timeout brings the execution back to ``Check`` anyway. A backstop
cycle is three state transitions, so a day at the default hour costs 72.

The tracker function ships the handlers' botocore model, so it works whatever Step
Functions' own SDK integrations know.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from omics_batch_construct_runtime import contract, lifecycle
from omics_batch_construct_runtime.outcome import Resubmission

from ._compliance import (
    HIPAA_AND_NIST,
    acknowledge,
    acknowledge_cdk_grants,
    acknowledge_finding,
    acknowledge_function,
    acknowledge_own_policy,
    acknowledge_vpc_access_policy,
    add_statement,
    flatten_cfn_reference,
)
from ._factories import Placement, handler_function, log_group
from ._provider import WHY_BATCH_ARNS, WHY_LISTS, WHY_XRAY, states_key_statement
from ._runs import BatchRuns, ReportLocation, json_text

# A task that fails is tried again this many times, waiting 5 s, 10 s, 20 s ... (capped), before the
# execution says so (a "Tracking Delayed" event), waits the backstop and tries again: no fault ends
# the tracking; only the cohort's outcome does.
RETRIES_BEFORE_DELAYED = 5
MAX_RETRY_WAIT = Duration.minutes(5)
# Delayed steps an execution allows itself: a delayed step adds about 35 history events, so 400
# stay far below Standard's 25,000 beside the checks' 6,500. Past them it fails TrackingStalled.
MAX_DELAYS = 400
DELAYS = "delays"

WHY_EXECUTIONS = (
    "The tracker reads the history of this state machine's executions (one per cohort, named "
    "after its first batch's id) to find the task token to resume."
)
WHY_REPORT_OBJECTS = "The report files are named by batch id under the report prefix, known only at deploy time."
WHY_COHORT_STARTS = (
    "The tracker starts the cohort's later parts and resubmissions, whose batch and run ids HealthOmics "
    "assigns: StartRunBatch only with the tag that names this cohort, and StartRun (its dual "
    "authorization) on this workflow's runs."
)
WHY_LIST_RUNS = "omics:ListRuns has no resource-level permissions; the tracker filters it by batch id."
WHY_GET_RUN = (
    "The report asks GetRun for runs ListRuns no longer lists (at most 100); their ids are assigned by "
    "HealthOmics, so the tracker is scoped to this account's and Region's run/* ARNs."
)


class BatchTracker(Construct):
    """The tracker function, its state machine and the event rule, for one cohort."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        report: ReportLocation,
        runs: BatchRuns,
        start: dict[str, Any],
        resubmission: Resubmission,
        backstop: Duration,
        topic: sns.ITopic | None,
        tracing: bool,
        placement: Placement,
    ) -> None:
        super().__init__(scope, id)
        self._stack = Stack.of(self)
        self.report = report
        # Whether the tracker starts batches of its own: later parts, or resubmissions.
        self.starts_batches = len(runs.tracker_parts()) > 1 or resubmission.max_attempts > 1
        self.function = self._function(placement)
        self._allow_reads_and_writes(report, runs, topic)

        config = {
            "parts": runs.tracker_parts(),
            "resubmission": resubmission.to_json() if resubmission.max_attempts > 1 else None,
            "start": json_text(self._stack, start),
            "reportUri": report.uri,
            "topicArn": topic.topic_arn if topic else None,
            "insight": True,  # the construct's insight function records the runs (_insight.py)
        }
        definition = self._definition(config, backstop, topic)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            comment="Follows a HealthOmics run batch, and the batches its cohort needs, to the end; reports per run",
            logs=sfn.LogOptions(
                destination=log_group(self, "StateMachineLogs", placement),
                level=sfn.LogLevel.ALL,
                # Execution data holds task tokens, which are bearer credentials.
                include_execution_data=False,
            ),
            tracing_enabled=tracing,
            encryption_configuration=(
                sfn.CustomerManagedEncryptionConfiguration(placement.encryption_key)
                if placement.encryption_key
                else None
            ),
        )
        self._allow_resume(placement.encryption_key)
        self._acknowledge(in_vpc=placement.vpc is not None)
        if not tracing:
            machine = self.state_machine.node.default_child
            assert machine is not None
            acknowledge(
                machine,
                "SF2",
                "X-Ray tracing of the tracking state machine was turned off with tracing=False; its "
                "executions are still logged to CloudWatch Logs.",
                packs=("AwsSolutions",),
            )

    # --- the event rule -----------------------------------------------------------------

    def watch(self, batch_id: str) -> events.Rule:
        """Resume the tracker when a batch of the cohort ends or has submitted all its runs.

        The cohort's batches are its first (by id) and those the tracker starts (by the name
        prefix the tracker gives them, which holds the first batch's id).
        """
        return events.Rule(
            self,
            "TerminalStatus",
            description="A HealthOmics run batch of an OmicsRunBatch cohort ended or submitted its runs",
            event_pattern=events.EventPattern(
                source=[contract.OMICS_EVENT_SOURCE],
                detail_type=[contract.OMICS_BATCH_EVENT_DETAIL_TYPE],
                detail={
                    "status": sorted(lifecycle.WAKING),
                    "$or": [
                        {"batchId": [batch_id]},
                        {"batchName": [{"prefix": contract.cohort_name_prefix(batch_id)}]},
                    ],
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    event=events.RuleTargetInput.from_object(
                        {
                            "action": contract.TRACKER_ACTION_RESUME,
                            "stateMachineArn": self.state_machine.state_machine_arn,
                            "cohortBatchId": batch_id,
                            "detail-type": events.EventField.detail_type,
                            "source": events.EventField.source,
                            "detail": events.EventField.from_path("$.detail"),
                        }
                    ),
                    retry_attempts=8,
                    max_event_age=Duration.hours(1),
                )
            ],
        )

    # --- the batches the tracker starts -------------------------------------------------

    def allow_starts(
        self, first_batch_id: str, batch_resources: list[str], run_resources: list[str], run_role: iam.IRole
    ) -> iam.Policy | None:
        """Let the tracker start the batches of this cohort, and only those (later parts and
        resubmissions): StartRunBatch tagged with this cohort's first batch id, StartRun (its
        dual authorization) on the same resources, tagging, and PassRole of the run role.

        A policy of its own, as the condition names the first batch, which the deploy starts.
        """
        if not self.starts_batches:
            return None
        stack = self._stack
        policy = iam.Policy(self, "StartPolicy")
        assert self.function.role is not None
        policy.attach_to_role(self.function.role)
        acknowledge(
            policy,
            "IAMNoInlinePolicy",
            "An AWS::IAM::Policy attached to the tracker's role only: it names the cohort's first batch, "
            "which the deploy starts after the tracker exists.",
            packs=HIPAA_AND_NIST,
        )
        add_statement(
            policy,
            iam.PolicyStatement(
                sid="StartCohortBatches",
                actions=["omics:StartRunBatch"],
                resources=batch_resources,
                conditions={"StringEquals": {f"aws:RequestTag/{contract.COHORT_TAG}": first_batch_id}},
            ),
            WHY_COHORT_STARTS,
        )
        add_statement(
            policy,
            iam.PolicyStatement(sid="StartCohortRuns", actions=["omics:StartRun"], resources=run_resources),
            WHY_COHORT_STARTS,
        )
        omics = f"arn:{stack.partition}:omics:{stack.region}:{stack.account}"
        add_statement(
            policy,
            iam.PolicyStatement(
                sid="TagCohortBatches",
                actions=["omics:TagResource"],
                resources=[f"{omics}:runBatch/*", f"{omics}:run/*"],
            ),
            WHY_COHORT_STARTS,
        )
        add_statement(
            policy,
            iam.PolicyStatement(
                sid="PassRunRole",
                actions=["iam:PassRole"],
                resources=[run_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "omics.amazonaws.com"}},
            ),
        )
        return policy

    # --- the parts ----------------------------------------------------------------------

    def _function(self, placement: Placement) -> lambda_.Function:
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Tracks a HealthOmics run batch and writes its report",
        )
        return handler_function(
            self,
            "Function",
            handler=contract.HANDLER_TRACKER,
            role=role,
            timeout=Duration.seconds(contract.TRACKER_TIMEOUT_SECONDS),
            # A part of 100,000 runs: 500 MiB of Python's allocations at the report's peak with every run's
            # record held (360 without), moto's copies of the files included (benchmarks/run_insight.py).
            memory_size=1536,
            description="OmicsRunBatch completion tracker",
            placement=placement,
        )

    def _allow_reads_and_writes(self, report: ReportLocation, runs: BatchRuns, topic: sns.ITopic | None) -> None:
        role = self.function.role
        assert role is not None
        stack = self._stack
        add_statement(
            role,
            iam.PolicyStatement(
                sid="ReadBatch",
                actions=["omics:GetBatch", "omics:ListRunsInBatch"],
                resources=[f"arn:{stack.partition}:omics:{stack.region}:{stack.account}:runBatch/*"],
            ),
            WHY_BATCH_ARNS,
        )
        add_statement(
            role,
            iam.PolicyStatement(sid="ReadRuns", actions=["omics:ListRuns"], resources=["*"]),
            WHY_LIST_RUNS,
        )
        if self.starts_batches:
            # A batch of the cohort is looked for by its name before it is started.
            add_statement(
                role,
                iam.PolicyStatement(sid="FindCohortBatches", actions=["omics:ListBatch"], resources=["*"]),
                WHY_LISTS,
            )
        add_statement(
            role,
            iam.PolicyStatement(
                sid="ReadUnlistedRuns",
                actions=["omics:GetRun"],
                resources=[f"arn:{stack.partition}:omics:{stack.region}:{stack.account}:run/*"],
            ),
            WHY_GET_RUN,
        )
        if runs.file_object_arns:
            add_statement(
                role,
                iam.PolicyStatement(sid="ReadSettings", actions=["s3:GetObject"], resources=runs.file_object_arns),
            )
        if report.objects_arn is not None:
            # The report, the rows of each batch read back for it, the cohort's manifest and
            # its resubmitted settings; a multipart upload that fails is aborted.
            add_statement(
                role,
                iam.PolicyStatement(
                    sid="WriteReport",
                    actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                    resources=[report.objects_arn],
                ),
                WHY_REPORT_OBJECTS,
            )
            if report.key is not None:
                add_statement(
                    role,
                    iam.PolicyStatement(
                        sid="WriteReportKey",
                        actions=["kms:GenerateDataKey", "kms:Decrypt"],
                        resources=[report.key.key_arn],
                    ),
                )
        add_statement(
            role,
            iam.PolicyStatement(
                sid="PublishCompletion",
                actions=["events:PutEvents"],
                resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
            ),
        )
        if topic is not None:
            add_statement(role, iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[topic.topic_arn]))
            if topic.master_key is not None:
                add_statement(
                    role,
                    iam.PolicyStatement(
                        sid="NotifyKey",
                        actions=["kms:GenerateDataKey", "kms:Decrypt"],
                        resources=[topic.master_key.key_arn],
                    ),
                )

    def _allow_resume(self, encryption_key: kms.IKey | None) -> None:
        """History and SendTaskSuccess, in a policy of their own.

        The function's default policy is a dependency of the function, which the state
        machine references: naming the state machine there would close a cycle.
        """
        machine = self.state_machine
        executions = self._stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy = iam.Policy(
            self,
            "ResumePolicy",
            statements=[
                iam.PolicyStatement(actions=["states:GetExecutionHistory"], resources=[executions]),
                # The cohort's running execution, found to resume; a fresh one to carry on in.
                iam.PolicyStatement(
                    actions=["states:SendTaskSuccess", "states:ListExecutions", "states:StartExecution"],
                    resources=[machine.state_machine_arn],
                ),
                # An encrypted state machine's history is read back through its key, and the
                # execution that carries on is started with it.
                *([states_key_statement(encryption_key, machine)] if encryption_key else []),
            ],
        )
        assert self.function.role is not None
        policy.attach_to_role(self.function.role)
        finding = flatten_cfn_reference(self._stack.resolve(executions))
        acknowledge_finding(policy, "IAM5", f"Resource::{finding}", WHY_EXECUTIONS)
        acknowledge(
            policy,
            "IAMNoInlinePolicy",
            "An AWS::IAM::Policy attached to the tracker's role only, kept apart from its default "
            "policy so that the state machine and the function do not depend on each other.",
            packs=HIPAA_AND_NIST,
        )

    def _definition(self, config: dict[str, Any], backstop: Duration, topic: sns.ITopic | None) -> sfn.IChainable:
        """Check the cohort until it is done, waiting for HealthOmics' events in between.

        Begin ─▶ Check ─done──▶ Report ─▶ Clean? ─▶ Succeed | Fail (BatchNotClean)
                   ▲  ├again──┘ (read one just started, start one queued, settle the next ended)
                   │  ├carry on─▶ CarryOn ─▶ Succeed (a fresh execution continues)
                   │  ├released─▶ Succeed (the stack let the cohort go: nothing more starts)
                   └──┴otherwise─▶ WaitForEvent (event, or the backstop)

        No fault ends it (``_heal``): only BatchNotClean and BatchNotFound (the cohort's outcome) fail it,
        and TrackingStalled once it was delayed MAX_DELAYS times (its history must stay bounded).
        """
        vanished = sfn.Fail(
            self,
            "BatchVanished",
            error=contract.TRACKER_ERROR_BATCH_NOT_FOUND,
            cause_path=sfn.JsonPath.format(
                "A batch of cohort {} no longer exists: it was deleted before it finished",
                sfn.JsonPath.string_at("$.batchId"),
            ),
        )
        cohort = {
            "batchId": sfn.JsonPath.string_at("$.batchId"),
            "cohort": sfn.JsonPath.object_at("$.check.cohort"),
        }
        own = {"stateMachineArn": sfn.JsonPath.string_at("$$.StateMachine.Id")}
        check = self._invoke(
            "Check",
            {"action": contract.TRACKER_ACTION_CHECK, **cohort, **own, "config": config},
            result_selector={
                "cohort.$": "$.Payload.cohort",
                "done.$": "$.Payload.done",
                "again.$": "$.Payload.again",
                "continue.$": "$.Payload.continue",
                "released.$": "$.Payload.released",
            },
            result_path="$.check",
        )
        # A batch gone before it ended is the cohort's outcome, not a fault: no retry, the execution fails.
        check.add_retry(errors=[contract.TRACKER_ERROR_BATCH_NOT_FOUND], max_attempts=0)
        check.add_catch(vanished, errors=[contract.TRACKER_ERROR_BATCH_NOT_FOUND], result_path="$.error")
        self._heal(check, backstop, topic)
        # A fresh execution carries the state on; the deploy's starts with an empty one.
        fresh = sfn.Pass(self, "Begin", result=sfn.Result.from_object({"cohort": {}}), result_path="$.check")
        # The execution's own count of delayed steps (see _delayed), from 0 in every execution.
        counting = sfn.Pass(
            self,
            "Counting",
            parameters={"batchId.$": "$.batchId", "check.$": "$.check", DELAYS: 0},
        )
        begin = sfn.Choice(self, "Carried on?").when(sfn.Condition.is_present("$.check.cohort"), counting)
        begin.otherwise(fresh)
        fresh.next(counting)
        counting.next(check)

        park = tasks.LambdaInvoke(
            self,
            "WaitForEvent",
            lambda_function=self.function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {
                    "action": contract.TRACKER_ACTION_PARK,
                    "batchId": sfn.JsonPath.string_at("$.batchId"),
                    "taskToken": sfn.JsonPath.task_token,
                }
            ),
            task_timeout=sfn.Timeout.duration(backstop),
            result_path=sfn.JsonPath.DISCARD,
            retry_on_service_exceptions=True,
        )
        park.add_catch(check, errors=["States.Timeout"], result_path=sfn.JsonPath.DISCARD)
        # A wait that cannot even park (the function failing) checks again after the backstop, said.
        park.add_catch(
            self._delayed("WaitForEvent", check, backstop, topic), errors=["States.ALL"], result_path="$.error"
        )

        report = self._invoke(
            "Report",
            {"action": contract.TRACKER_ACTION_REPORT, **cohort, **own, "config": config},
            result_selector={
                "succeeded.$": "$.Payload.succeeded",
                "status.$": "$.Payload.status",
                "reportJsonUri.$": "$.Payload.reportJsonUri",
            },
            result_path="$.report",
        )
        self._heal(report, backstop, topic)
        outcome = (
            sfn.Choice(self, "Clean?")
            .when(sfn.Condition.boolean_equals("$.report.succeeded", True), sfn.Succeed(self, "BatchProcessed"))
            .otherwise(
                sfn.Fail(
                    self,
                    "BatchNotClean",
                    error="BatchNotClean",
                    cause_path=sfn.JsonPath.format(
                        "Batch {} ended {} with failures: see {}",
                        sfn.JsonPath.string_at("$.batchId"),
                        sfn.JsonPath.string_at("$.report.status"),
                        sfn.JsonPath.string_at("$.report.reportJsonUri"),
                    ),
                )
            )
        )
        carry_on = self._invoke(
            "CarryOn",
            {
                "action": contract.TRACKER_ACTION_CONTINUE,
                **cohort,
                **own,
                "executionName": sfn.JsonPath.string_at("$$.Execution.Name"),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        self._heal(carry_on, backstop, topic)
        carry_on.next(sfn.Succeed(self, "CarriedOn", comment="A fresh execution of this cohort carries on"))
        released = sfn.Succeed(
            self, "Released", comment="The stack let the cohort go (a destroy or a replacement): nothing more starts"
        )
        step = (
            sfn.Choice(self, "Next?")
            .when(sfn.Condition.boolean_equals("$.check.released", True), released)
            .when(sfn.Condition.boolean_equals("$.check.done", True), report.next(outcome))
            .when(sfn.Condition.boolean_equals("$.check.continue", True), carry_on)
            .when(sfn.Condition.boolean_equals("$.check.again", True), check)
            .otherwise(park.next(check))
        )
        check.next(step)
        return begin

    def _invoke(self, id: str, payload: dict[str, Any], **options: Any) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            id,
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object(payload),
            retry_on_service_exceptions=False,  # _heal's retry covers them, with one backoff
            **options,
        )

    def _heal(self, task: tasks.LambdaInvoke, backstop: Duration, topic: sns.ITopic | None) -> None:
        """Every error of ``task`` (a timeout or out-of-memory, Lambda.Unknown; AccessDenied while IAM
        propagates; throttling that outlived botocore's retries; a bug) is retried with a capped
        exponential backoff; after RETRIES_BEFORE_DELAYED in a row the execution says so and tries
        again after the backstop, for as long as it takes."""
        task.add_retry(
            errors=["States.ALL"],
            interval=Duration.seconds(5),
            backoff_rate=2,
            max_attempts=RETRIES_BEFORE_DELAYED,
            max_delay=MAX_RETRY_WAIT if MAX_RETRY_WAIT.to_seconds() < backstop.to_seconds() else backstop,
            jitter_strategy=sfn.JitterType.FULL,
        )
        task.add_catch(self._delayed(task.id, task, backstop, topic), errors=["States.ALL"], result_path="$.error")

    def _delayed(self, name: str, then: sfn.IChainable, backstop: Duration, topic: sns.ITopic | None) -> sfn.IChainable:
        """Tell that ``name`` keeps failing (an EventBridge event, and the topic's message), wait the
        backstop, and go on with ``then``. Telling is best effort: its own failure does not stop it."""
        wait = sfn.Wait(self, f"{name}Backoff", time=sfn.WaitTime.duration(backstop))
        wait.next(then)
        # Counted, so that a fault that lasts weeks cannot fill the execution's history (which nothing
        # could catch): past MAX_DELAYS the execution stops, saying how to resume the cohort.
        count = sfn.Pass(
            self,
            f"{name}Count",
            parameters={
                "batchId.$": "$.batchId",
                "check.$": "$.check",
                f"{DELAYS}.$": f"States.MathAdd($.{DELAYS}, 1)",
            },
        )
        stalled = sfn.Fail(
            self,
            f"{name}Stalled",
            error="TrackingStalled",
            cause_path=sfn.JsonPath.format(
                f"The tracking of cohort {{}} was delayed {MAX_DELAYS} times (see its Tracking Delayed events): "
                "fix the cause, then `omics-batch resume {}` or deploy the stack",
                sfn.JsonPath.string_at("$.batchId"),
                sfn.JsonPath.string_at("$.batchId"),
            ),
        )
        count.next(
            sfn.Choice(self, f"{name}TooOften?")
            .when(sfn.Condition.number_greater_than(f"$.{DELAYS}", MAX_DELAYS - 1), stalled)
            .otherwise(wait)
        )
        detail = {
            "batchId": sfn.JsonPath.string_at("$.batchId"),
            "state": name,
            # The caught error whole ({"Error", "Cause"}): a path into it that a service left out
            # would be a States.Runtime error, which nothing catches.
            "error": sfn.JsonPath.object_at("$.error"),
            "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
            "retryInSeconds": int(backstop.to_seconds()),
        }
        event = tasks.EventBridgePutEvents(
            self,
            f"{name}Delayed",
            entries=[
                tasks.EventBridgePutEventsEntry(
                    detail=sfn.TaskInput.from_object(detail),
                    detail_type=contract.EVENT_TRACKING_DELAYED,
                    source=contract.EVENT_SOURCE,
                )
            ],
            result_path=sfn.JsonPath.DISCARD,
        )
        event.add_catch(count, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
        if topic is None:
            event.next(count)
            return event
        notify = tasks.SnsPublish(
            self,
            f"{name}DelayedNotice",
            topic=topic,
            subject=contract.EVENT_TRACKING_DELAYED,
            message=sfn.TaskInput.from_object(detail),
            result_path=sfn.JsonPath.DISCARD,
        )
        notify.add_catch(count, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
        event.next(notify)
        notify.next(count)
        return event

    def _acknowledge(self, *, in_vpc: bool) -> None:
        role = self.function.role
        assert role is not None
        acknowledge_cdk_grants(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            {
                "lambda:InvokeFunction": "Step Functions invokes the tracker function by ARN and by version "
                "or alias (<arn>:*); the function is this batch's own.",
                "xray:": WHY_XRAY,
            },
        )
        for policy_owner in (role, self.state_machine.role):
            acknowledge_own_policy(policy_owner)
        acknowledge_function(
            self.function,
            why_no_dlq="Invoked by Step Functions, which retries and records every failure in the execution, "
            "and by EventBridge with retries; a lost resume is caught by the state machine's backstop poll.",
            in_vpc=in_vpc,
        )
        if in_vpc:
            acknowledge_vpc_access_policy(role)
