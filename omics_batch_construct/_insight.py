"""Run insight: each run of the cohort, as it ends, priced and explained (``lambda/insight``).

    HealthOmics "Run Status Change" (COMPLETED, FAILED, CANCELLED)
      ─▶ EventBridge rule ─▶ queue (dead-letter queue after INSIGHT_MAX_RECEIVES)
      ─▶ insight function, 100 messages a batch, at most two at once
      ─▶ <report prefix>batch-<first batch id>/runs/<batch id>/*.jsonl

The events carry no batch id, so the rule takes every ended run of the account and the function
keeps its cohorts' runs. Reading each run's manifest when it ends spreads CloudWatch Logs'
reads (GetLogEvents is not a quota one can raise) over the days the cohort runs, and works
under retention mode REMOVE, where GetRun may have forgotten the run by the end of the cohort.
"""

from __future__ import annotations

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from omics_batch_construct_runtime import contract, layout, lifecycle
from omics_batch_construct_runtime.runcost import WORKFLOW_LOG_GROUP

from ._compliance import acknowledge, acknowledge_function, acknowledge_own_policy, add_statement
from ._factories import Placement, handler_function
from ._runs import ReportLocation

# Functions reading manifests at once (the least an SQS event source takes): a batch of 100 runs is
# 100 GetRun and 200 GetLogEvents (benchmarks/run_insight.py), so at most about 40 GetLogEvents a
# second when runs end faster than that; botocore retries CloudWatch Logs' throttling, whose
# account-wide rate other readers share.
MAX_CONCURRENCY = 2

WHY_RUNS = "Run ids are assigned by HealthOmics: GetRun on this account's and Region's run/* ARNs."
WHY_BATCHES = "A run's batch is read for the tag that names its cohort; batch ids are assigned by HealthOmics."
WHY_MANIFESTS = "HealthOmics names each run's manifest stream manifest/run/<run id>/<run uuid>, ids it assigns."
WHY_PRICES = "The Price List API has no resource-level permissions (pricing:GetProducts on *)."
WHY_RECORDS = "Records and prices are named by batch id under the report prefix, known only at deploy time."
WHY_DLQ_OF_DLQ = "This is the insight queue's dead-letter queue; the report looks up the runs whose messages end here."


class RunInsight(Construct):
    """The rule, queue and function that record each ended run of the cohorts under ``report``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        report: ReportLocation,
        bucket: s3.IBucket | None,
        report_key: str | None,
        placement: Placement,
    ) -> None:
        super().__init__(scope, id)
        key = placement.encryption_key
        encryption = sqs.QueueEncryption.KMS if key else sqs.QueueEncryption.SQS_MANAGED
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=encryption,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(self.dead_letter_queue, "SQS3", WHY_DLQ_OF_DLQ, packs=("AwsSolutions",))
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=encryption,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(contract.INSIGHT_VISIBILITY_SECONDS),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=contract.INSIGHT_MAX_RECEIVES, queue=self.dead_letter_queue
            ),
        )
        self.rule = events.Rule(
            self,
            "RunEnded",
            description="A HealthOmics run ended: the OmicsRunBatch insight function records its cohorts' runs",
            event_pattern=events.EventPattern(
                source=[contract.OMICS_EVENT_SOURCE],
                detail_type=[contract.OMICS_RUN_EVENT_DETAIL_TYPE],
                detail={"status": sorted(lifecycle.ENDED_RUN)},
            ),
            # An event EventBridge cannot deliver (after its retries) is kept in the dead-letter queue too.
            targets=[targets.SqsQueue(self.queue, dead_letter_queue=self.dead_letter_queue)],
        )
        if key is not None and not isinstance(key, kms.Key):
            Annotations.of(self).add_warning_v2(
                "omics-batch-construct:ImportedKeyQueue",
                "encryption_key is imported: its key policy must let events.amazonaws.com use it "
                "(kms:Decrypt, kms:GenerateDataKey) or EventBridge cannot deliver the run events to the insight queue.",
            )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Records what each ended HealthOmics run of the cohort cost and why it failed",
        )
        self.function = handler_function(
            self,
            "Function",
            handler=contract.HANDLER_INSIGHT,
            role=role,
            timeout=Duration.seconds(contract.INSIGHT_TIMEOUT_SECONDS),
            memory_size=512,
            description="OmicsRunBatch run insight: cost and failure of each ended run",
            placement=placement,
        )
        self.function.add_environment(contract.ENV_REPORT_URI, report.uri)
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=100,
                max_batching_window=Duration.minutes(1),
                report_batch_item_failures=True,
                max_concurrency=MAX_CONCURRENCY,
            )
        )
        stack = Stack.of(self)
        omics = f"arn:{stack.partition}:omics:{stack.region}:{stack.account}"
        add_statement(
            role,
            iam.PolicyStatement(sid="ReadEndedRuns", actions=["omics:GetRun"], resources=[f"{omics}:run/*"]),
            WHY_RUNS,
        )
        add_statement(
            role,
            iam.PolicyStatement(sid="ReadRunBatches", actions=["omics:GetBatch"], resources=[f"{omics}:runBatch/*"]),
            WHY_BATCHES,
        )
        allow_pricing(role)
        if bucket is not None and report_key is not None:
            add_statement(
                role,
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject"],
                    resources=[
                        bucket.arn_for_objects(report_key + pattern)
                        for pattern in (layout.INSIGHT_KEYS, layout.PRICES_KEYS)
                    ],
                ),
                WHY_RECORDS,
            )
            manifests = report_key + layout.MANIFEST_KEYS
            add_statement(
                role,
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(manifests)]),
                WHY_RECORDS,
            )
            # A cohort is this construct's when its manifest is listed; its prices are read once listed.
            allow_record_listing(role, bucket, [manifests, report_key + layout.PRICES_KEYS])
            if bucket.encryption_key is not None:
                add_statement(
                    role,
                    iam.PolicyStatement(
                        actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[bucket.encryption_key.key_arn]
                    ),
                )
        acknowledge_own_policy(role)
        acknowledge_function(
            self.function,
            why_no_dlq="Invoked by its queue, which has a dead-letter queue of its own.",
            in_vpc=placement.vpc is not None,
        )


def allow_pricing(role: iam.IRole) -> None:
    """The runs' manifest logs and the list prices: what pricing a run reads (the insight function,
    and the tracker's report for the runs the function did not record)."""
    stack = Stack.of(role)
    group = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{WORKFLOW_LOG_GROUP}"
    add_statement(
        role,
        iam.PolicyStatement(
            sid="ReadRunManifests", actions=["logs:GetLogEvents"], resources=[f"{group}:log-stream:manifest/run/*"]
        ),
        WHY_MANIFESTS,
    )
    add_statement(
        role, iam.PolicyStatement(sid="ReadListPrices", actions=["pricing:GetProducts"], resources=["*"]), WHY_PRICES
    )


def allow_record_listing(role: iam.IRole, bucket: s3.IBucket, keys: list[str]) -> None:
    """s3:ListBucket for ``keys`` only (records by batch; a cohort's manifest): without it S3
    answers a missing key with 403."""
    add_statement(
        role,
        iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn], conditions={"StringLike": {"s3:prefix": keys}}
        ),
    )
