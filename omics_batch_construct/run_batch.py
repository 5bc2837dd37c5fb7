"""The OmicsRunBatch construct: a HealthOmics run batch started by ``cdk deploy``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from aws_cdk import Annotations, ArnFormat, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_omics as omics
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from omics_batch_construct_runtime import contract, layout, outcome
from omics_batch_construct_runtime.outcome import NO_RESUBMISSION, Resubmission

from ._compliance import acknowledge_own_policy, add_statement
from ._factories import Placement, access_logs_bucket, secure_bucket
from ._insight import RunInsight, allow_pricing, allow_record_listing
from ._monitoring import BatchMonitoring
from ._provider import OMICS_PRINCIPAL, BatchProvider
from ._runs import BatchRuns, ReportLocation, encode_documents
from ._tracker import BatchTracker
from .monitoring import BatchAlarms, Monitoring
from .retry import RetryPolicy
from .run_settings import DefaultRunSetting, RunSetting
from .validation import BatchValidationError, ValidatedBatch, is_token, s3_uri_problem, validate_batch

RESOURCE_TYPE = "Custom::OmicsRunBatch"
DEFAULT_RETRY = RetryPolicy()
DEFAULT_MONITORING = Monitoring()
# The run tag that names a run's batch (the construct's path), for Cost Explorer.
COST_ALLOCATION_TAG = "omics-batch-construct:batch"
# The batch tags the construct sets itself (contract.DEFINITION_TAG, contract.COHORT_TAG) start so.
RESERVED_TAG_PREFIX = "omics-batch-construct:"
MAX_TAG_VALUE = 256  # the model's TagValue
# A backstop cycle adds 13 history events: at 30 minutes a batch may run 40 days before
# the execution nears Standard's 25,000 events (see benchmarks/tracking.py).
MIN_BACKSTOP = Duration.minutes(30)
# Output prefixes granted one by one in a bucket; more, and the bucket is granted whole.
MAX_OUTPUT_PREFIXES = 20
MAX_BACKSTOP = Duration.hours(24)

WHY_INPUT_OBJECTS = (
    "Runs read the objects their parameters name, which the construct cannot list: reading is "
    "limited to the buckets given as input_buckets."
)
WHY_OUTPUT_OBJECTS = (
    "Each run writes under <output URI>/<run id>/ with keys HealthOmics chooses: writing is "
    "limited to the output prefix."
)
WHY_RESUBMITTED_SETTINGS = (
    "The tracker writes each resubmission's settings file (and keeps each part's) under the cohort's folder, "
    "named after the first batch (assigned at deploy) and the file's content; the run role reads them and "
    "nothing else there."
)
WHY_CACHE_OBJECTS = (
    "Call caching reads and writes task results under the run cache's S3 location, with keys "
    "HealthOmics chooses: access is limited to that location."
)
WHY_WORKFLOW_LOGS = "HealthOmics writes one log stream per run, named by run id, in /aws/omics/WorkflowLog."
WHY_IMAGES = (
    "Container images are named in the workflow definition, which the construct cannot read: "
    "pulling is limited to this account's and Region's ECR repositories."
)


class OnDelete(StrEnum):
    """What happens to the batch when its resource is deleted (stack destroy or replacement)."""

    RETAIN = contract.ON_DELETE_RETAIN
    """Leave the batch and its runs alone: runs go on and their outputs stay."""
    CANCEL_RUNS = contract.ON_DELETE_CANCEL_RUNS
    """Cancel the runs still pending or running, and wait until the batch has stopped."""
    DELETE_RUNS_AND_BATCH = contract.ON_DELETE_DELETE_RUNS_AND_BATCH
    """Cancel what is in flight, then delete the runs and the batch. Outputs in S3 stay."""


class OmicsRunBatch(Construct):
    """Starts a HealthOmics run batch at deploy time, with the roles and bucket it needs.

    Example::

        batch = OmicsRunBatch(stack, "Cohort7",
            default_run_setting=DefaultRunSetting(workflow_id="1234567"),
            runs=[RunSetting(run_setting_id="NA12878", parameters={"fastq_1": "s3://..."})],
        )
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        default_run_setting: DefaultRunSetting,
        runs: Sequence[RunSetting],
        batch_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_role: iam.IRole | None = None,
        output_bucket: s3.IBucket | None = None,
        input_buckets: Sequence[s3.IBucket] = (),
        run_cache: omics.CfnRunCache | None = None,
        cache_location: str | None = None,
        on_delete: OnDelete = OnDelete.RETAIN,
        timeout: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        encryption_key: kms.IKey | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        track_completion: bool = True,
        backstop_interval: Duration | None = None,
        notification_topic: sns.ITopic | None = None,
        tracing: bool = True,
        cost_allocation_tag: bool = True,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        monitoring: Monitoring | None = DEFAULT_MONITORING,
    ) -> None:
        """
        :param default_run_setting: Settings shared by every run (the API's defaultRunSetting).
        :param runs: One RunSetting per run, 1 to 1,000,000. Up to 100 go inline in the
            template; more are written to settings files shipped as S3 assets, 100,000 runs a
            file: the deploy starts the first part's batch and the tracker the next ones.
        :param batch_name: Default: no name.
        :param tags: Tags of the batch (not of its runs: use ``run_tags`` for those).
            Default: none. Changing only tags updates the batch in place.
        :param run_role: The role runs assume. Default: ``default_run_setting.role_arn`` if
            set, else a new least-privilege role trusted by HealthOmics.
        :param output_bucket: Where runs write their outputs (under ``<id>/``). Default: the
            bucket of ``default_run_setting.output_uri`` if set, else a new encrypted,
            versioned, retained bucket.
        :param input_buckets: Buckets the created run role may read. Default: none.
        :param run_cache: The HealthOmics run cache the runs use: its id becomes
            ``default_run_setting.cache_id`` and the created run role may read and write its
            ``cache_s3_location``. Default: none (or ``default_run_setting.cache_id``).
        :param cache_location: With ``default_run_setting.cache_id`` (a cache made elsewhere): the
            cache's ``s3://`` location, which the created run role may then read and write.
            Default: none.
        :param on_delete: What a stack destroy or a replacement does to the batch.
            Default: ``OnDelete.RETAIN`` (runs are expensive: nothing is stopped).
        :param timeout: How long a deploy waits for the batch to pass validation, in whole
            minutes, at most 60. Default: 30 minutes.
        :param log_retention: Retention of the handlers' logs. Default: one year.
        :param encryption_key: A customer-managed KMS key for the created output bucket and
            the handlers' and state machines' logs, granted to the created run role.
            Default: SSE-S3 for the bucket, CloudWatch Logs' own encryption for logs.
        :param vpc: A VPC for the handler functions (they need a route to the HealthOmics,
            Lambda and Step Functions APIs: NAT or VPC endpoints). Default: no VPC.
        :param vpc_subnets: Where in ``vpc``. Default: Lambda's default (private subnets).
        :param track_completion: Follow the batch to its end with a state machine that writes
            a per-run report and a retry file and emits a completion event. Default: True.
        :param backstop_interval: How long the tracker waits for HealthOmics' status event
            before it asks GetBatch itself: 30 minutes to 24 hours. Default: 1 hour.
        :param notification_topic: An SNS topic the tracker also publishes the completion
            summary to. Default: none (the EventBridge event only).
        :param tracing: X-Ray tracing of the tracking state machine. Default: True.
        :param retry: What the tracker submits again, in a new batch, when a batch of the cohort
            ends: by default, submissions refused for quota or transient reasons, up to 3
            submissions per run. ``None``: nothing is resubmitted. Needs ``track_completion``.
            Default: ``RetryPolicy()``.
        :param monitoring: A CloudWatch dashboard of the cohort and four alarms (failed runs, tracking
            failed, tracking delayed, insight dead letters), notifying ``alarm_topic`` if given.
            ``None``: neither. Needs ``track_completion``. Default: ``Monitoring()``.
        :param cost_allocation_tag: Tag every run with ``omics-batch-construct:batch`` = this
            construct's path, so that HealthOmics spend can be grouped by batch in Cost Explorer
            once the tag is activated as a cost allocation tag. Run tags you set win.
            Default: True.
        """
        super().__init__(scope, id)
        # Access log delivery by bucket policy, not by the LogDeliveryWrite ACL (ACLs stay
        # disabled on every bucket made here), whatever the app's feature flags say.
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        self._path = self.node.path
        self.encryption_key = encryption_key
        placement = Placement(log_retention, encryption_key, vpc, vpc_subnets)
        wait = timeout or Duration.minutes(30)
        backstop = backstop_interval or Duration.hours(1)

        # 1. Every problem of the arguments and the runs, in one error.
        problems = self._argument_problems(
            default_run_setting, run_role, output_bucket, on_delete, wait, backstop, placement
        )
        problems.extend(_cohort_problems(runs, retry, track_completion))
        problems.extend(_monitoring_problems(monitoring, track_completion))
        problems.extend(
            f"tags: {key!r} starts with {RESERVED_TAG_PREFIX!r}, which the construct's own tags use"
            for key in (tags or {})
            if isinstance(key, str) and key.startswith(RESERVED_TAG_PREFIX)
        )
        if not isinstance(default_run_setting, DefaultRunSetting):
            self._fail(*problems)
        problems.extend(_cache_problems(default_run_setting, run_cache, cache_location))
        if isinstance(run_cache, omics.CfnRunCache):
            default_run_setting = dataclasses.replace(default_run_setting, cache_id=run_cache.attr_id)
            cache_location = run_cache.cache_s3_location
        self.run_role: iam.IRole = self._resolve_run_role(default_run_setting, run_role)
        self.access_logs_bucket: s3.IBucket | None = None
        self.output_bucket: s3.IBucket | None
        self.output_uri: str
        self.output_bucket, self.output_uri = self._resolve_output(default_run_setting, output_bucket)
        default = dataclasses.replace(
            default_run_setting,
            role_arn=self.run_role.role_arn,
            output_uri=self.output_uri,
            run_tags=self._run_tags(default_run_setting, cost_allocation_tag),
        )
        batch = validate_batch(
            self._path, default_run_setting=default, runs=runs, batch_name=batch_name, tags=tags, problems=problems
        )

        # 2. Where the runs travel, and what the run role may do with them.
        self.run_count = batch.count
        self.runs = BatchRuns.place(self, batch)
        # One settings file per 100,000 runs; the deploy's batch reads the first.
        self.settings_assets: list[s3_assets.Asset] = list(self.runs.files)
        self.settings_asset: s3_assets.Asset | None = self.settings_assets[0] if self.settings_assets else None
        self.report = self._report_location()
        resubmission = retry.resubmission() if track_completion and isinstance(retry, RetryPolicy) else NO_RESUBMISSION
        created_role = self._secure_created_run_role(
            default,
            batch,
            input_buckets,
            cache_location,
            on_delete,
            resubmits=resubmission.max_attempts > 1,
            tracked=track_completion,
        )

        # 3. The stack's provider, allowed to start this batch; the tracker, if asked for.
        provider = BatchProvider.of(Stack.of(self), placement)
        handler_policy = provider.allow_batch(
            self, default, self.run_role, run_tags=bool(batch.default.get("runTags")) or batch.run_tags
        )
        self.tracker: BatchTracker | None = None
        if track_completion:
            start = {"defaultRunSetting": batch.default, "tags": dict(tags or {}), "batchName": batch_name}
            self.tracker = self._track(backstop, notification_topic, tracing, placement, start, resubmission)
            provider.allow_tracking(handler_policy, self.tracker.state_machine)
        manifests = self._report_key(layout.MANIFEST_KEYS)
        if self.output_bucket is not None and manifests is not None:
            provider.allow_manifests(handler_policy, self.output_bucket, manifests, write=self.tracker is not None)
        self.insight: RunInsight | None = None
        if self.tracker is not None:
            report_key = self._report_key("")
            self.insight = RunInsight(
                self,
                "Insight",
                report=self.report,
                bucket=self.output_bucket,
                report_key=report_key,
                placement=placement,
            )
            tracker_role = self.tracker.function.role
            assert tracker_role is not None
            allow_pricing(tracker_role)  # the report prices the runs the insight function did not record
            if self.output_bucket is not None and report_key is not None:
                keys = [report_key + layout.INSIGHT_KEYS, report_key + layout.PRICES_KEYS]
                allow_record_listing(tracker_role, self.output_bucket, keys)
        if self.tracker is not None and self.output_bucket is not None:
            # A growing cohort's revision reads every part the cohort was given and writes its increment,
            # and (under CANCEL_RUNS or DELETE_RUNS_AND_BATCH, once ever) the samples it removed.
            keys = [layout.PART_KEYS, layout.WITHDRAWN_KEYS]
            provider.allow_cohort_parts(
                handler_policy,
                self.output_bucket,
                [key for key in map(self._report_key, keys) if key is not None],
                self.runs.file_object_arns,
            )

        # 4. The custom resource that starts the batch.
        self.resource = self._custom_resource(
            provider, batch, batch_name, tags, on_delete, wait, stable_names=self._stable_names(created_role)
        )
        if created_role:
            # The service checks the role when the batch starts: its policy must exist first.
            self.resource.node.add_dependency(self.run_role)
        # The handlers may start this batch only once its own policy exists.
        self.resource.node.add_dependency(handler_policy)
        if self.tracker is not None:
            self.tracker.watch(self.batch_id)
            self.tracker.allow_starts(
                self.batch_id,
                provider.start_resources(default, configuration=False),
                provider.start_resources(default),
                self.run_role,
            )

        # 5. The cohort's dashboard and alarms, on the tracker's and the insight function's metrics.
        self.monitoring: BatchMonitoring | None = None
        if self.tracker is not None and self.insight is not None and isinstance(monitoring, Monitoring):
            self.monitoring = BatchMonitoring(
                self,
                "Monitoring",
                monitoring=monitoring,
                cohort=self.batch_id,
                run_count=self.run_count,
                report_uri=self.report.uri,
                tracker=self.tracker,
                insight=self.insight,
                backstop=backstop,
            )

    # --- attributes -------------------------------------------------------------------

    @property
    def batch_id(self) -> str:
        """The batch id (deploy-time value)."""
        return self.resource.get_att_string(contract.ATTR_BATCH_ID)

    @property
    def batch_arn(self) -> str:
        """The batch ARN (deploy-time value)."""
        return self.resource.get_att_string(contract.ATTR_BATCH_ARN)

    @property
    def batch_uuid(self) -> str:
        """The batch UUID (deploy-time value)."""
        return self.resource.get_att_string(contract.ATTR_BATCH_UUID)

    @property
    def batch_status(self) -> str:
        """The batch status when the deploy finished waiting (deploy-time value)."""
        return self.resource.get_att_string(contract.ATTR_STATUS)

    @property
    def dashboard(self) -> cloudwatch.Dashboard | None:
        """The cohort's CloudWatch dashboard, or None (no tracking, ``monitoring=None`` or ``dashboard=False``)."""
        return self.monitoring.dashboard if self.monitoring else None

    @property
    def alarms(self) -> BatchAlarms | None:
        """The cohort's alarms (failed runs, tracking failed, tracking delayed, insight dead letters), or
        None (no tracking, or ``monitoring=None``)."""
        return self.monitoring.alarms if self.monitoring else None

    @property
    def state_machine(self) -> sfn.IStateMachine | None:
        """The tracking state machine (one execution per batch, named ``batch-<id>``), or None."""
        return self.tracker.state_machine if self.tracker else None

    def on_completed(self, id: str, *, target: events.IRuleTarget | None = None, **rule_props: Any) -> events.Rule:
        """A rule for this batch's "Omics Run Batch Completed" event (needs ``track_completion``).

        The event's detail carries batchId, batchArn, status, succeeded, counts and the report's
        S3 URIs.
        """
        return self._rule("on_completed", id, contract.EVENT_DETAIL_TYPE, target, rule_props)

    def on_tracking_delayed(
        self, id: str, *, target: events.IRuleTarget | None = None, **rule_props: Any
    ) -> events.Rule:
        """A rule for this batch's "Omics Run Batch Tracking Delayed" event (needs ``track_completion``):
        a step of the tracking kept failing (its retries spent); it is tried again after the backstop.

        The event's detail carries batchId, state (Check, Report, CarryOn, WaitForEvent), error
        ({Error, Cause}), execution and retryInSeconds.
        """
        return self._rule("on_tracking_delayed", id, contract.EVENT_TRACKING_DELAYED, target, rule_props)

    def _rule(
        self, name: str, id: str, detail_type: str, target: events.IRuleTarget | None, rule_props: dict[str, Any]
    ) -> events.Rule:
        if self.tracker is None:
            self._fail(f"{name}: this batch has track_completion=False, so the tracker sends no event")
        rule = events.Rule(
            self,
            id,
            event_pattern=events.EventPattern(
                source=[contract.EVENT_SOURCE], detail_type=[detail_type], detail={"batchId": [self.batch_id]}
            ),
            **rule_props,
        )
        if target is not None:
            rule.add_target(target)
        return rule

    # --- helpers ------------------------------------------------------------------------

    def _track(
        self,
        backstop: Duration,
        topic: sns.ITopic | None,
        tracing: bool,
        placement: Placement,
        start: dict[str, Any],
        resubmission: Resubmission,
    ) -> BatchTracker:
        """The state machine that follows the batch, with the original settings for its retry file."""
        if self.output_bucket is None:
            Annotations.of(self).add_warning_v2(
                "omics-batch-construct:ReportBucketUnknown",
                "track_completion: the output bucket is a deploy-time value, so the tracker is not granted "
                "s3:PutObject for its report (grant it on batch.tracker.function.role), nor the deploy's "
                "handlers s3:ListBucket and s3:GetObject on the cohort's manifest, which a destroy reads",
            )
        return BatchTracker(
            self,
            "Tracker",
            report=self.report,
            runs=self.runs,
            start=start,
            resubmission=resubmission,
            backstop=backstop,
            topic=topic,
            tracing=tracing,
            placement=placement,
        )

    def _report_location(self) -> ReportLocation:
        """The tracker's prefix beside the outputs, and its objects' ARN when the bucket is known."""
        bucket = self.output_bucket
        return ReportLocation(
            uri=layout.report_uri(self.output_uri),
            objects_arn=self._report_objects("*"),
            key=bucket.encryption_key if bucket is not None else None,
        )

    def _report_objects(self, pattern: str) -> str | None:
        """The ARN of objects under the report prefix that match ``pattern`` (None: bucket unknown)."""
        key = self._report_key(pattern)
        if self.output_bucket is None or key is None:
            return None
        return self.output_bucket.arn_for_objects(key)

    def _report_key(self, pattern: str) -> str | None:
        """The keys under the report prefix that match ``pattern`` (None: bucket unknown)."""
        if self.output_bucket is None:
            return None
        return layout.report_key(_key_of(self.output_uri)) + pattern

    def _custom_resource(
        self,
        provider: BatchProvider,
        batch: ValidatedBatch,
        batch_name: str | None,
        tags: Mapping[str, str] | None,
        on_delete: OnDelete,
        wait: Duration,
        *,
        stable_names: Mapping[str, str],
    ) -> CustomResource:
        """The batch's resource: the API's request in the contract's properties."""
        stack = Stack.of(self)
        properties: dict[str, Any] = {
            contract.PROP_SCHEMA_VERSION: contract.SCHEMA_VERSION,
            contract.PROP_DEFAULT_RUN_SETTING: encode_documents(stack, batch.default),
            contract.PROP_BATCH_RUN_SETTINGS: self.runs.request(stack),
            contract.PROP_ON_DELETE: on_delete.value,
            contract.PROP_TIMEOUT_SECONDS: str(int(wait.to_seconds())),
            contract.PROP_REPORT_URI: self.report.uri,
            contract.PROP_RUN_COUNT: str(batch.count),
        }
        if not self.runs.inline:
            properties[contract.PROP_SETTINGS_FILES] = [file.s3_object_url for file in self.runs.files]
        if stable_names:
            properties[contract.PROP_STABLE_NAMES] = dict(stable_names)
        if batch_name is not None:
            properties[contract.PROP_BATCH_NAME] = batch_name
        if tags:
            properties[contract.PROP_TAGS] = dict(tags)
        if self.tracker is not None:
            properties[contract.PROP_TRACKER_ARN] = self.tracker.state_machine.state_machine_arn
        return CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            # Always the hour CloudFormation allows: it bounds deletes too, and cancelling or
            # deleting a large batch's runs takes long. The batch's own timeout is the handler's.
            service_timeout=Duration.seconds(contract.MAX_DEPLOY_WAIT_SECONDS),
        )

    def _stable_names(self, created_role: bool) -> dict[str, str]:
        """The names CloudFormation gives anew with every stack it creates, of what this construct
        made: the deploy reads them by these names, so a stack created again finds its batch."""
        names = {}
        if created_role:
            names["RunRole"] = self.run_role.role_arn
        if isinstance(self.output_bucket, s3.Bucket) and self.output_bucket.node.scope is self:
            names["OutputBucket"] = self.output_bucket.bucket_name
        return names

    def _fail(self, *problems: str) -> None:
        raise BatchValidationError(self._path, problems)

    def _argument_problems(
        self,
        default: DefaultRunSetting,
        run_role: iam.IRole | None,
        output_bucket: s3.IBucket | None,
        on_delete: Any,
        wait: Duration,
        backstop: Duration,
        placement: Placement,
    ) -> list[str]:
        """The construct's own argument problems (the model's come from validate_batch)."""
        problems = []
        if not isinstance(default, DefaultRunSetting):
            problems.append(f"default_run_setting: expected a DefaultRunSetting, got {type(default).__name__}")
        else:
            if default.role_arn is not None and run_role is not None:
                problems.append("run_role: give either run_role or default_run_setting.role_arn, not both")
            if default.output_uri is not None and output_bucket is not None:
                problems.append("output_bucket: give either output_bucket or default_run_setting.output_uri, not both")
        if not isinstance(on_delete, OnDelete):
            problems.append(f"on_delete: expected an OnDelete, got {on_delete!r}")
        seconds = wait.to_seconds()
        if not 60 <= seconds <= contract.MAX_DEPLOY_WAIT_SECONDS or seconds % 60:
            problems.append(f"timeout: {wait.to_human_string()}; must be whole minutes from 1 to 60")
        if not MIN_BACKSTOP.to_seconds() <= backstop.to_seconds() <= MAX_BACKSTOP.to_seconds():
            problems.append(
                f"backstop_interval: {backstop.to_human_string()}; must be from {MIN_BACKSTOP.to_human_string()} "
                f"to {MAX_BACKSTOP.to_human_string()} (shorter fills the execution history of a long batch)"
            )
        problems.extend(
            f"{name}: differs from another OmicsRunBatch of this stack; the batches of a stack share "
            "one custom resource provider, so give them the same value"
            for name in BatchProvider.differences(Stack.of(self), placement)
        )
        return problems

    def _run_tags(self, default: DefaultRunSetting, cost_allocation_tag: bool) -> Mapping[str, str] | None:
        """The default run tags, with the batch's identity for cost allocation unless turned off."""
        if not cost_allocation_tag:
            return default.run_tags
        path = (
            self._path
            if len(self._path) <= MAX_TAG_VALUE
            else f"{self._path[: MAX_TAG_VALUE - 9]}~{self.node.addr[:8]}"
        )
        return {COST_ALLOCATION_TAG: path, **(default.run_tags or {})}

    def _resolve_run_role(self, default: DefaultRunSetting, run_role: iam.IRole | None) -> iam.IRole:
        if default.role_arn is not None:
            return iam.Role.from_role_arn(self, "RunRole", default.role_arn, mutable=False)
        if run_role is not None:
            return run_role
        stack = Stack.of(self)
        return iam.Role(
            self,
            "RunRole",
            description=f"Runs of the HealthOmics run batch {self._path}",
            assumed_by=iam.ServicePrincipal(OMICS_PRINCIPAL).with_conditions(
                {
                    # Only HealthOmics acting for this account may assume it (confused deputy).
                    # Not also aws:SourceArn = run/*: StartRunBatch reads the settings file as
                    # this role before any run exists.
                    "StringEquals": {"aws:SourceAccount": stack.account},
                }
            ),
        )

    def _resolve_output(self, default: DefaultRunSetting, bucket: s3.IBucket | None) -> tuple[s3.IBucket | None, str]:
        if default.output_uri is not None:  # (with output_bucket too: already a problem)
            name = _bucket_of(default.output_uri)
            imported = s3.Bucket.from_bucket_name(self, "OutputBucket", name) if name else None
            return imported, default.output_uri
        if bucket is None:
            self.access_logs_bucket = access_logs_bucket(self, "AccessLogs")
            bucket = secure_bucket(
                self,
                "OutputBucket",
                encryption_key=self.encryption_key,
                access_logs=self.access_logs_bucket,
                access_logs_prefix="output-bucket/",
            )
        return bucket, f"s3://{bucket.bucket_name}/{self.node.id}/"

    def _secure_created_run_role(
        self,
        default: DefaultRunSetting,
        batch: ValidatedBatch,
        input_buckets: Sequence[s3.IBucket],
        cache_location: str | None,
        on_delete: OnDelete,
        *,
        resubmits: bool,
        tracked: bool,
    ) -> bool:
        """Least privilege for a run role made here (and its life as long as the runs'); False if given."""
        if not (isinstance(self.run_role, iam.Role) and self.run_role.node.scope is self):
            return False
        self._grant_run_role(default, batch.output_uris, input_buckets, resubmits=resubmits, tracked=tracked)
        self._allow_cache(default, cache_location)
        acknowledge_own_policy(self.run_role)
        if on_delete is OnDelete.RETAIN:
            # Runs outlive a destroy by default, so the role they act with must too.
            for child in self.run_role.node.find_all():
                if isinstance(child, (iam.CfnRole, iam.CfnPolicy)):
                    child.apply_removal_policy(RemovalPolicy.RETAIN)
        return True

    def _grant_run_role(
        self,
        default: DefaultRunSetting,
        run_output_uris: Sequence[str],
        input_buckets: Sequence[s3.IBucket],
        *,
        resubmits: bool,
        tracked: bool,
    ) -> None:
        """Least privilege for the created run role, in explicit actions (CDK's grants use wildcards)."""
        role = self.run_role
        stack = Stack.of(self)
        for index, bucket in enumerate(input_buckets):
            self._allow_s3(f"ReadInputs{index}", bucket.bucket_arn, [""], bucket.encryption_key, write=False)
        if self.runs.file_object_arns:
            # The settings files' objects, not the whole assets bucket that asset.grant_read would open.
            add_statement(
                role,
                iam.PolicyStatement(
                    sid="ReadRunSettingsFile", actions=["s3:GetObject"], resources=self.runs.file_object_arns
                ),
            )
        resubmitted = self._report_objects(layout.RESUBMIT_KEYS) if resubmits else None
        if resubmitted is not None:
            # The settings files the tracker writes for resubmissions, named by content.
            add_statement(
                role,
                iam.PolicyStatement(sid="ReadResubmittedSettings", actions=["s3:GetObject"], resources=[resubmitted]),
                WHY_RESUBMITTED_SETTINGS,
            )
        parts = self._report_objects(layout.PART_KEYS) if tracked else None
        if parts is not None:
            # A tracked cohort's parts, kept in its folder: the later parts the tracker starts, and
            # each revision's increment of a growing cohort.
            add_statement(
                role,
                iam.PolicyStatement(sid="ReadCohortParts", actions=["s3:GetObject"], resources=[parts]),
                WHY_RESUBMITTED_SETTINGS,
            )
        self._allow_outputs([default.output_uri, *run_output_uris])
        log_group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/omics/WorkflowLog",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        add_statement(
            role,
            iam.PolicyStatement(
                sid="WorkflowLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams"],
                resources=[f"{log_group}:*"],
            ),
            WHY_WORKFLOW_LOGS,
        )
        add_statement(
            role,
            iam.PolicyStatement(
                sid="WorkflowLogEvents", actions=["logs:PutLogEvents"], resources=[f"{log_group}:log-stream:*"]
            ),
            WHY_WORKFLOW_LOGS,
        )
        # Batches run private workflows only (READY2RUN is refused at validation).
        add_statement(
            role,
            iam.PolicyStatement(
                sid="PullWorkflowImages",
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[stack.format_arn(service="ecr", resource="repository", resource_name="*")],
            ),
            WHY_IMAGES,
        )

    def _allow_outputs(self, uris: Sequence[str | None]) -> None:
        """Let the run role write under each output URI, and list and read back what is there.

        One statement per bucket with its prefixes; a bucket named with more than
        MAX_OUTPUT_PREFIXES prefixes (a per-run output_uri column, say) is granted whole,
        so that the policy, and the template, do not grow with the number of runs.
        """
        prefixes: dict[str, set[str]] = {}
        keys: dict[str, kms.IKey | None] = {}
        for uri in uris:
            if uri is None:
                continue
            if uri == self.output_uri and self.output_bucket is not None:
                bucket_arn, key = self.output_bucket.bucket_arn, self.output_bucket.encryption_key
            else:
                name = _bucket_of(uri)
                if name is None:
                    continue  # a deploy-time value: nothing to scope to at synth
                bucket_arn, key = f"arn:{Stack.of(self).partition}:s3:::{name}", None
            prefixes.setdefault(bucket_arn, set()).add(_folder(_key_of(uri)))
            keys[bucket_arn] = key
        for index, (bucket_arn, bucket_prefixes) in enumerate(prefixes.items()):
            if len(bucket_prefixes) > MAX_OUTPUT_PREFIXES:
                Annotations.of(self).add_warning_v2(
                    "omics-batch-construct:WholeOutputBucket",
                    f"{len(bucket_prefixes)} output prefixes in one bucket: the run role may write anywhere in it",
                )
                bucket_prefixes = {""}
            self._allow_s3(f"WriteOutputs{index}", bucket_arn, sorted(bucket_prefixes), keys[bucket_arn], write=True)

    def _allow_cache(self, default: DefaultRunSetting, location: str | None) -> None:
        """Read and write the run cache's S3 location (the service-role guide asks for it)."""
        if default.cache_id is None:
            return
        if location is None or not location.startswith("s3://") or not location[5:].split("/", 1)[0]:
            Annotations.of(self).add_warning_v2(
                "omics-batch-construct:RunCacheLocationUnknown",
                "default_run_setting.cache_id: the run cache's S3 location is not known at synth, so the created "
                "run role cannot be granted it and cached runs cannot write their cache; pass run_cache= or "
                "cache_location=, or grant it on batch.run_role",
            )
            return
        # The bucket may be a deploy-time value (a bucket of this app): an ARN holds it as well.
        bucket, _, prefix = location[5:].partition("/")
        # A cache in the output bucket made here is encrypted with its key; another bucket's key is its owner's.
        output = self.output_bucket
        key = output.encryption_key if output is not None and output.bucket_name == bucket else None
        arn = f"arn:{Stack.of(self).partition}:s3:::{bucket}"
        self._allow_s3("RunCache", arn, [_folder(prefix)], key, write=True, why=WHY_CACHE_OBJECTS)

    def _allow_s3(
        self,
        sid: str,
        bucket_arn: str,
        prefixes: Sequence[str],
        key: kms.IKey | None,
        *,
        write: bool,
        why: str | None = None,
    ) -> None:
        """List the bucket, read (and, for outputs, put) objects under the prefix; never delete."""
        role = self.run_role
        add_statement(role, iam.PolicyStatement(sid=f"{sid}List", actions=["s3:ListBucket"], resources=[bucket_arn]))
        add_statement(
            role,
            iam.PolicyStatement(
                sid=f"{sid}Objects",
                actions=["s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"],
                resources=[f"{bucket_arn}/{prefix}*" for prefix in prefixes],
            ),
            why or (WHY_OUTPUT_OBJECTS if write else WHY_INPUT_OBJECTS),
        )
        if key is not None:
            add_statement(
                role,
                iam.PolicyStatement(
                    sid=f"{sid}Key",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"],
                    resources=[key.key_arn],
                ),
            )


def _cohort_problems(runs: Sequence[Any], retry: Any, track_completion: bool) -> list[str]:
    problems = []
    if retry is not None and not isinstance(retry, RetryPolicy):
        problems.append(f"retry: expected a RetryPolicy or None, got {type(retry).__name__}")
    elif retry is not None:
        problems.extend(retry.problems())
    if not track_completion:
        if retry is not None and retry is not DEFAULT_RETRY:
            problems.append("retry: resubmissions are the tracker's: give track_completion=True, or retry=None")
        if len(runs) > contract.MAX_RUNS:
            problems.append(
                f"runs: {len(runs):,} runs are more than one batch's {contract.MAX_RUNS:,}; the tracker starts the "
                "later parts, so they need track_completion=True"
            )
    return problems


def _monitoring_problems(monitoring: Any, track_completion: bool) -> list[str]:
    if monitoring is None:
        return []
    if not isinstance(monitoring, Monitoring):
        return [f"monitoring: expected a Monitoring or None, got {type(monitoring).__name__}"]
    problems = monitoring.problems()
    if not track_completion and monitoring is not DEFAULT_MONITORING:
        problems.append(
            "monitoring: the dashboard and alarms watch the tracker: give track_completion=True, or monitoring=None"
        )
    return problems


def _cache_problems(default: DefaultRunSetting, run_cache: Any, cache_location: str | None) -> list[str]:
    problems = []
    if run_cache is not None and not isinstance(run_cache, omics.CfnRunCache):
        problems.append(f"run_cache: expected an aws_omics.CfnRunCache, got {type(run_cache).__name__}")
    if run_cache is not None and default.cache_id is not None:
        problems.append("run_cache: give either run_cache or default_run_setting.cache_id, not both")
    if cache_location is not None:
        if run_cache is not None:
            problems.append("cache_location: the run cache's own cache_s3_location is used; give one of them")
        elif default.cache_id is None:
            problems.append("cache_location: needs default_run_setting.cache_id (the cache it is the location of)")
        if (problem := s3_uri_problem(cache_location)) is not None:
            problems.append(f"cache_location: {cache_location!r} {problem}")
    if isinstance(run_cache, omics.CfnRunCache):
        location = run_cache.cache_s3_location
        if (problem := s3_uri_problem(location)) is not None:
            problems.append(f"run_cache: its cache_s3_location {location!r} {problem}")
    return problems


def _bucket_of(uri: str) -> str | None:
    """The bucket of a valid s3:// URI known at synth, or None."""
    if is_token(uri) or s3_uri_problem(uri) is not None:
        return None
    return uri[len(outcome.S3_SCHEME) :].partition("/")[0]


def _key_of(uri: str) -> str:
    """The key prefix of an s3:// URI ("" for the bucket's root)."""
    return uri[len(outcome.S3_SCHEME) :].partition("/")[2]


def _folder(key: str) -> str:
    """A key prefix as the folder HealthOmics writes in, with one slash at its end ("" for the
    bucket's root): ``results`` and ``results/`` alike are ``results/``. A deploy-time key is
    kept as it is (whether it ends with a slash is not known)."""
    return key if not key or is_token(key) else layout.join(key, "")
