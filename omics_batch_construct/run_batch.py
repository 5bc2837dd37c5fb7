"""The OmicsRunBatch construct: a HealthOmics run batch started by ``cdk deploy``."""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from ._handler_assets import LAMBDA_DIR, contract
from .settings import DefaultRunSetting, RunSetting, WorkflowType
from .validation import BatchValidationError, dumps_runs, is_token, validate_batch, validate_file_runs

RESOURCE_TYPE = "Custom::OmicsRunBatch"
HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_13
# How often the deploy asks whether the batch has passed validation (divides any whole minute).
QUERY_INTERVAL = Duration.seconds(15)
OMICS_PRINCIPAL = "omics.amazonaws.com"


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
        on_delete: OnDelete = OnDelete.RETAIN,
        timeout: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
    ) -> None:
        """
        :param default_run_setting: Settings shared by every run (the API's defaultRunSetting).
        :param runs: One RunSetting per run, 1 to 100,000. Up to 100 go inline in the
            template; more are written to a settings file shipped as an S3 asset.
        :param batch_name: Default: no name.
        :param tags: Tags of the batch (not of its runs: use ``run_tags`` for those).
            Default: none. Changing only tags updates the batch in place.
        :param run_role: The role runs assume. Default: ``default_run_setting.role_arn`` if
            set, else a new least-privilege role trusted by HealthOmics.
        :param output_bucket: Where runs write their outputs (under ``<id>/``). Default: the
            bucket of ``default_run_setting.output_uri`` if set, else a new encrypted,
            versioned, retained bucket.
        :param input_buckets: Buckets the created run role may read. Default: none.
        :param on_delete: What a stack destroy or a replacement does to the batch.
            Default: ``OnDelete.RETAIN`` (runs are expensive: nothing is stopped).
        :param timeout: How long a deploy waits for the batch to pass validation, in whole
            minutes, at most 60. Default: 30 minutes.
        :param log_retention: Retention of the handlers' logs. Default: one year.
        """
        super().__init__(scope, id)
        stack = Stack.of(self)
        self._path = self.node.path
        wait = timeout or Duration.minutes(30)
        self._check_arguments(default_run_setting, run_role, wait, on_delete)

        self.run_role: iam.IRole = self._resolve_run_role(default_run_setting, run_role)
        self.output_bucket: s3.IBucket | None
        self.output_uri: str
        self.output_bucket, self.output_uri = self._resolve_output(default_run_setting, output_bucket)
        default = dataclasses.replace(default_run_setting, role_arn=self.run_role.role_arn, output_uri=self.output_uri)

        batch = validate_batch(self._path, default_run_setting=default, runs=runs, batch_name=batch_name, tags=tags)
        self.run_count = len(batch.runs)
        self.settings_asset: s3_assets.Asset | None = None
        if self.run_count <= contract.MAX_INLINE_RUNS:
            run_settings: dict[str, Any] = {
                "inlineSettings": [self._encode_documents(stack, run) for run in batch.runs]
            }
        else:
            validate_file_runs(self._path, batch.runs)
            self.settings_asset = self._settings_file(batch.runs)
            run_settings = {"s3UriSettings": self.settings_asset.s3_object_url}

        created_role = isinstance(self.run_role, iam.Role) and self.run_role.node.scope is self
        if created_role:
            self._grant_run_role(default, batch.runs, input_buckets)
            if on_delete is OnDelete.RETAIN:
                # Runs outlive a destroy by default, so the role they act with must too.
                for child in self.run_role.node.find_all():
                    if isinstance(child, (iam.CfnRole, iam.CfnPolicy)):
                        child.apply_removal_policy(RemovalPolicy.RETAIN)

        provider = _BatchProvider.of(stack, wait, log_retention)
        provider.allow_batch(default, self.run_role, run_tags=_has_run_tags(batch.default, batch.runs))

        properties: dict[str, Any] = {
            contract.PROP_SCHEMA_VERSION: contract.SCHEMA_VERSION,
            contract.PROP_DEFAULT_RUN_SETTING: self._encode_documents(stack, batch.default),
            contract.PROP_BATCH_RUN_SETTINGS: run_settings,
            contract.PROP_ON_DELETE: on_delete.value,
        }
        if batch_name is not None:
            properties[contract.PROP_BATCH_NAME] = batch_name
        if tags:
            properties[contract.PROP_TAGS] = dict(tags)
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            service_timeout=Duration.seconds(min(wait.to_seconds() + 300, contract.MAX_DEPLOY_WAIT_SECONDS)),
        )
        if created_role:
            # The service checks the role when the batch starts: its policy must exist first.
            self.resource.node.add_dependency(self.run_role)

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

    # --- helpers ------------------------------------------------------------------------

    def _fail(self, *problems: str) -> None:
        raise BatchValidationError(self._path, problems)

    def _check_arguments(
        self, default: DefaultRunSetting, run_role: iam.IRole | None, wait: Duration, on_delete: Any
    ) -> None:
        problems = []
        if not isinstance(default, DefaultRunSetting):
            problems.append(f"default_run_setting: expected a DefaultRunSetting, got {type(default).__name__}")
        elif default.role_arn is not None and run_role is not None:
            problems.append("run_role: give either run_role or default_run_setting.role_arn, not both")
        if not isinstance(on_delete, OnDelete):
            problems.append(f"on_delete: expected an OnDelete, got {on_delete!r}")
        seconds = wait.to_seconds()
        if not 60 <= seconds <= contract.MAX_DEPLOY_WAIT_SECONDS or seconds % 60:
            problems.append(f"timeout: {wait.to_human_string()}; must be whole minutes from 1 to 60")
        if problems:
            self._fail(*problems)

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
                    # Only runs of this account may assume it (confused deputy).
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": stack.format_arn(service="omics", resource="run", resource_name="*")},
                }
            ),
        )

    def _resolve_output(self, default: DefaultRunSetting, bucket: s3.IBucket | None) -> tuple[s3.IBucket | None, str]:
        if default.output_uri is not None:
            if bucket is not None:
                self._fail("output_bucket: give either output_bucket or default_run_setting.output_uri, not both")
            name = _bucket_of(default.output_uri)
            imported = s3.Bucket.from_bucket_name(self, "OutputBucket", name) if name else None
            return imported, default.output_uri
        if bucket is None:
            bucket = s3.Bucket(
                self,
                "OutputBucket",
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                encryption=s3.BucketEncryption.S3_MANAGED,
                enforce_ssl=True,
                versioned=True,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                removal_policy=RemovalPolicy.RETAIN,
            )
        return bucket, f"s3://{bucket.bucket_name}/{self.node.id}/"

    @staticmethod
    def _encode_documents(stack: Stack, setting: Mapping[str, Any]) -> dict[str, Any]:
        """CloudFormation turns every scalar into a string: documents go JSON-encoded instead."""
        return {
            key: stack.to_json_string(value) if key in contract.DOCUMENT_MEMBERS else value
            for key, value in setting.items()
        }

    def _settings_file(self, runs: Sequence[Mapping[str, Any]]) -> s3_assets.Asset:
        """Write the runs as the API's JSON array and ship it as a content-addressed asset.

        The asset's key is the hash of its content, so the object HealthOmics reads never
        changes under it (a changed ETag fails the batch), and the same runs give the same
        object on every synth.
        """
        body = dumps_runs(runs).encode("utf-8")
        folder = Path(tempfile.mkdtemp(prefix="omics-run-settings-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = folder / f"run-settings-{hashlib.sha256(body).hexdigest()[:16]}.json"
        path.write_bytes(body)
        return s3_assets.Asset(self, "RunSettings", path=str(path))

    def _grant_run_role(
        self, default: DefaultRunSetting, runs: Sequence[Mapping[str, Any]], input_buckets: Sequence[s3.IBucket]
    ) -> None:
        role = self.run_role
        stack = Stack.of(self)
        for bucket in input_buckets:
            bucket.grant_read(role)
        if self.settings_asset is not None:
            # The one object, not the whole assets bucket that asset.grant_read would open.
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="ReadRunSettingsFile",
                    actions=["s3:GetObject"],
                    resources=[self.settings_asset.bucket.arn_for_objects(self.settings_asset.s3_object_key)],
                )
            )
        self._grant_output(default.output_uri, role)
        for uri in {run["outputUri"] for run in runs if "outputUri" in run}:
            self._grant_output(uri, role, imported_id=f"RunOutput{hashlib.sha256(uri.encode()).hexdigest()[:8]}")
        log_group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/omics/WorkflowLog",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WorkflowLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams"],
                resources=[f"{log_group}:*"],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WorkflowLogEvents",
                actions=["logs:PutLogEvents"],
                resources=[f"{log_group}:log-stream:*"],
            )
        )
        if default.workflow_type in (None, WorkflowType.PRIVATE, WorkflowType.PRIVATE.value):
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="PullWorkflowImages",
                    actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                    resources=[stack.format_arn(service="ecr", resource="repository", resource_name="*")],
                )
            )

    def _grant_output(self, uri: str | None, role: iam.IRole, imported_id: str | None = None) -> None:
        """Let the run role write under an output URI, and list and read back what is there."""
        if uri is None:
            return
        if uri == self.output_uri and self.output_bucket is not None:
            bucket: s3.IBucket = self.output_bucket
        else:
            name = _bucket_of(uri)
            if name is None:
                return
            bucket = s3.Bucket.from_bucket_name(self, imported_id or "Output", name)
        prefix = uri.split("/", 3)[3] if uri.count("/") >= 3 else ""
        # Read back and write; never delete: nothing a run does removes earlier outputs.
        bucket.grant_read(role, f"{prefix}*")
        bucket.grant_put(role, f"{prefix}*")


def _bucket_of(uri: str) -> str | None:
    """The bucket of an s3:// URI known at synth, or None."""
    if is_token(uri) or not uri.startswith("s3://"):
        return None
    name = uri[len("s3://") :].split("/", 1)[0]
    return name or None


def _has_run_tags(default: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> bool:
    return bool(default.get("runTags")) or any(run.get("runTags") for run in runs)


class _BatchProvider(Construct):
    """The custom resource provider, one per stack and configuration, shared by its batches."""

    @classmethod
    def of(cls, stack: Stack, wait: Duration, log_retention: logs.RetentionDays) -> _BatchProvider:
        minutes = int(wait.to_minutes())
        id = f"OmicsRunBatchProvider{minutes}m{log_retention.name.title().replace('_', '')}"
        existing = stack.node.try_find_child(id)
        if isinstance(existing, cls):
            return existing
        return cls(stack, id, wait=wait, log_retention=log_retention)

    def __init__(self, scope: Construct, id: str, *, wait: Duration, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        code = lambda_.Code.from_asset(str(LAMBDA_DIR), exclude=["**/__pycache__", "**/*.pyc"])
        self.role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Starts, tracks and (if asked) stops HealthOmics run batches",
        )
        functions = {}
        for name, handler in (
            ("OnEvent", "run_batch.index.on_event"),
            ("IsComplete", "run_batch.index.is_complete"),
        ):
            log_group = logs.LogGroup(self, f"{name}Logs", retention=log_retention)
            log_group.grant_write(self.role)
            functions[name] = lambda_.Function(
                self,
                name,
                runtime=HANDLER_RUNTIME,
                architecture=lambda_.Architecture.ARM_64,
                code=code,
                handler=handler,
                role=self.role,
                # Longer than one API call's worst case with botocore's retries (see omics.py).
                timeout=Duration.minutes(3),
                memory_size=256,
                log_group=log_group,
                logging_format=lambda_.LoggingFormat.JSON,
                application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
                system_log_level_v2=lambda_.SystemLogLevel.WARN,
                description=f"OmicsRunBatch custom resource: {handler}",
            )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageRunBatches",
                actions=[
                    "omics:StartRunBatch",
                    "omics:GetBatch",
                    "omics:CancelRunBatch",
                    "omics:DeleteRunBatch",
                    "omics:DeleteBatch",
                    # Always granted, not only when tags are set: removing the last tag
                    # needs UntagResource in the same deploy that drops the tags.
                    "omics:TagResource",
                    "omics:UntagResource",
                ],
                resources=[self._omics_arn(stack, "runBatch/*")],
            )
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=functions["OnEvent"],
            is_complete_handler=functions["IsComplete"],
            query_interval=QUERY_INTERVAL,
            total_timeout=wait,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=log_retention),
            waiter_state_machine_log_options=cr.LogOptions(
                destination=logs.LogGroup(self, "WaiterLogs", retention=log_retention),
                level=sfn.LogLevel.ERROR,
            ),
        )
        self.service_token = provider.service_token

    @staticmethod
    def _omics_arn(stack: Stack, resource: str, account: str | None = None) -> str:
        return (
            f"arn:{stack.partition}:omics:{stack.region}:{account if account is not None else stack.account}:{resource}"
        )

    def allow_batch(self, default: DefaultRunSetting, run_role: iam.IRole, *, run_tags: bool) -> None:
        """Let the handlers start this batch: StartRun on its resources and PassRole on its role."""
        stack = Stack.of(self)
        workflow = f"workflow/{default.workflow_id}"
        # Dual authorization: StartRunBatch also needs StartRun on what each run uses. The
        # workflow's account is left open: shared and Ready2Run workflows live elsewhere.
        resources = [
            self._omics_arn(stack, "run/*"),
            self._omics_arn(stack, workflow, account="*"),
            self._omics_arn(stack, f"{workflow}/version/*", account="*"),
        ]
        if default.run_group_id:
            resources.append(self._omics_arn(stack, f"runGroup/{default.run_group_id}"))
        if default.cache_id:
            resources.append(self._omics_arn(stack, f"runCache/{default.cache_id}"))
        self.role.add_to_policy(iam.PolicyStatement(actions=["omics:StartRun"], resources=resources))
        if run_tags:
            # The service tags each run as the caller.
            self.role.add_to_policy(
                iam.PolicyStatement(actions=["omics:TagResource"], resources=[self._omics_arn(stack, "run/*")])
            )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[run_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": OMICS_PRINCIPAL}},
            )
        )
