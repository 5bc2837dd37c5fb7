"""The custom resource provider: the handler Lambdas and CDK's Provider framework around them.

One provider serves every batch of a stack, so ten batches do not deploy ten copies of
the same five functions and state machine, and it keeps one construct id: CloudFormation
refuses to change a custom resource's ServiceToken, so a provider that moved with a
setting would make that setting impossible to change. Its framework waits the longest a
custom resource may (one hour); each batch's own ``timeout`` is enforced by the handler.
Each batch adds what is its own to the shared handler role: StartRunBatch and StartRun on its workflow,
PassRole on its run role.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from omics_batch_construct_runtime import contract

from ._compliance import (
    acknowledge_cdk_grants,
    acknowledge_function,
    acknowledge_own_policy,
    acknowledge_vpc_access_policy,
    add_statement,
)
from ._factories import WHY_LOG_STREAMS, Placement, allow_logs_to_use, handler_function, log_group
from .run_settings import DefaultRunSetting

# How often the deploy asks whether the batch has passed validation (divides any whole minute).
QUERY_INTERVAL = Duration.seconds(15)
OMICS_PRINCIPAL = "omics.amazonaws.com"

WHY_BATCH_ARNS = (
    "Batch ids are assigned by HealthOmics when the deploy starts the batch, so the handlers "
    "can only be scoped to this account's and Region's runBatch/* ARNs."
)
WHY_RUN_ARNS = (
    "StartRunBatch is also authorized as StartRun (dual authorization) on the runs it will "
    "create, whose ids HealthOmics assigns later: run/* of this account and Region."
)
WHY_WORKFLOW_ARNS = (
    "The workflow is named by id; its account is left open because a shared workflow belongs to "
    "another account (workflow_owner_id)."
)
WHY_STOP_TRACKING = (
    "A destroy stops the cohort's tracking execution (named after its first batch, assigned at deploy) "
    "before it cancels or deletes the cohort's batches, so that no batch starts after it looked."
)
WHY_COHORT_MANIFESTS = (
    "A destroy closes the cohort's manifest and reads from it which batches the tracker started; a deploy "
    "that takes a cohort back reopens it. The manifest is named after the cohort's first batch, whose id is "
    "assigned at deploy."
)
WHY_COHORT_PARTS = (
    "A growing cohort's revision reads the parts the cohort was given and the samples it removed, and "
    "writes its increment (and its removals) under the cohort's folder, named after its first batch "
    "(assigned at deploy) and each file's content."
)
WHY_LISTS = (
    "A deploy finds its definition's batch by its name, and a destroy the batch a tracker check was starting, "
    "with ListBatch; a destroy lists a batch's runs with ListRuns: neither has resource-level permissions."
)
WHY_QUOTAS = "Service Quotas' ListServiceQuotas and ListAWSDefaultServiceQuotas have no resource-level permissions."
WHY_FRAMEWORK = (
    "CDK's Provider framework invokes its handlers by ARN and by version or alias (<arn>:*); "
    "the functions are its own and nothing else."
)
WHY_XRAY = "X-Ray's PutTraceSegments and sampling APIs have no resource-level permissions."


# The encryption context Step Functions gives KMS for a state machine's data.
STATES_KEY_CONTEXT = "kms:EncryptionContext:aws:states:stateMachineArn"

PROVIDER_ID = "OmicsRunBatchProvider"
# The framework's own limit; each batch's timeout is shorter or equal (see run_batch.index).
FRAMEWORK_TIMEOUT = Duration.hours(1)


class BatchProvider(Construct):
    """The handler functions, their role and the Provider framework, once per stack."""

    @classmethod
    def differences(cls, stack: Stack, placement: Placement) -> list[str]:
        """The arguments in which ``placement`` differs from the stack's provider (none yet: none)."""
        existing = stack.node.try_find_child(PROVIDER_ID)
        return existing.placement.differences(placement) if isinstance(existing, cls) else []

    @classmethod
    def of(cls, stack: Stack, placement: Placement) -> BatchProvider:
        """The stack's provider, made by the first batch (check ``differences`` first)."""
        existing = stack.node.try_find_child(PROVIDER_ID)
        return existing if isinstance(existing, cls) else cls(stack, PROVIDER_ID, placement=placement)

    def __init__(self, scope: Construct, id: str, *, placement: Placement) -> None:
        super().__init__(scope, id)
        self.placement = placement
        self._stack = Stack.of(self)
        if placement.encryption_key is not None:
            allow_logs_to_use(placement.encryption_key, self)
        self.role = self._role("HandlerRole", "Starts, tracks and (if asked) stops HealthOmics run batches")
        functions = [
            handler_function(
                self,
                name,
                handler=handler,
                role=self.role,
                # Longer than one API call's worst case with botocore's retries (see omics.py).
                timeout=Duration.minutes(3),
                # One vCPU: a growing cohort's revision digests every entry the cohort was given
                # (of 1,000,000: 25 s to add 1,000 samples, 56 s to remove 1,000, on one core;
                # benchmarks/increment.py). Memory is not what it needs: below 200 MiB.
                memory_size=1769,
                description=f"OmicsRunBatch custom resource: {handler}",
                placement=placement,
            )
            for name, handler in (
                ("OnEvent", contract.HANDLER_ON_EVENT),
                ("IsComplete", contract.HANDLER_IS_COMPLETE),
            )
        ]
        add_statement(
            self.role,
            iam.PolicyStatement(
                sid="ManageRunBatches",
                actions=[
                    "omics:GetBatch",
                    "omics:ListRunsInBatch",
                    "omics:CancelRunBatch",
                    "omics:DeleteRunBatch",
                    "omics:DeleteBatch",
                    # Always granted, not only when tags are set: removing the last tag
                    # needs UntagResource in the same deploy that drops the tags.
                    "omics:TagResource",
                    "omics:UntagResource",
                ],
                resources=[self.omics_arn("runBatch/*")],
            ),
            WHY_BATCH_ARNS,
        )
        # CancelRunBatch and DeleteRunBatch act on each run as the caller, as StartRunBatch does; a
        # delete also cancels and deletes one by one the runs those did not reach, and a growing
        # cohort's revision the runs of the samples it removed (GetRun: still the run it listed?).
        add_statement(
            self.role,
            iam.PolicyStatement(
                actions=["omics:GetRun", "omics:CancelRun", "omics:DeleteRun"], resources=[self.omics_arn("run/*")]
            ),
            WHY_RUN_ARNS,
        )
        # A deploy finds its definition's batch by name (ListBatch); a delete lists a batch's runs
        # (ListRuns, filtered by batch id) to reach those the batch-wide calls did not.
        add_statement(
            self.role,
            iam.PolicyStatement(
                sid="FindBatchesAndRuns", actions=["omics:ListBatch", "omics:ListRuns"], resources=["*"]
            ),
            WHY_LISTS,
        )
        # The run quota's pre-flight (provider/quota.py): Service Quotas' lists take no resource.
        add_statement(
            self.role,
            iam.PolicyStatement(
                sid="ReadRunQuota",
                actions=["servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas"],
                resources=["*"],
            ),
            WHY_QUOTAS,
        )

        # Custom roles for CDK's framework functions: its defaults carry the AWS managed basic
        # execution policy. Two of them, as in the framework: one role for both would make a
        # cycle (onEvent starts the waiter, which invokes isComplete).
        framework_roles = [
            self._role(f"Framework{name}Role", f"CDK Provider framework {what} of the OmicsRunBatch handlers")
            for name, what in (("OnEvent", "onEvent"), ("Waiter", "isComplete and onTimeout"))
        ]
        provider_logs = log_group(self, "ProviderLogs", placement)
        for role in framework_roles:
            add_statement(
                role,
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[provider_logs.log_group_arn]
                ),
                WHY_LOG_STREAMS,
            )
        waiter_logs = log_group(self, "WaiterLogs", placement)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=functions[0],
            is_complete_handler=functions[1],
            query_interval=QUERY_INTERVAL,
            total_timeout=FRAMEWORK_TIMEOUT,
            log_group=provider_logs,
            framework_on_event_role=framework_roles[0],
            framework_complete_and_timeout_role=framework_roles[1],
            vpc=placement.vpc,
            vpc_subnets=placement.vpc_subnets,
            disable_waiter_state_machine_logging=False,
            # ALL event types without execution data: the waiter's input holds the presigned
            # ResponseURL, which must not reach a log.
            waiter_state_machine_log_options=cr.LogOptions(
                destination=waiter_logs, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        self._trace_waiter(provider)
        self._acknowledge(functions, provider, framework_roles, in_vpc=placement.vpc is not None)
        self.service_token = provider.service_token

    # --- per batch --------------------------------------------------------------------

    def allow_batch(
        self, scope: Construct, default: DefaultRunSetting, run_role: iam.IRole, *, run_tags: bool
    ) -> iam.Policy:
        """Let the handlers start this batch: StartRun on what its runs use, PassRole on its role.

        In a policy of the batch's own (in ``scope``), not the role's default policy: a stack of
        many batches would overflow that, and CDK would move statements to overflow policies
        that nothing acknowledges.
        """
        policy = iam.Policy(scope, "HandlerPolicy", roles=[self.role])
        acknowledge_own_policy(policy, "An AWS::IAM::Policy of one batch, attached to the handlers' role only.")
        add_statement(
            policy,
            iam.PolicyStatement(
                sid="StartRuns",
                actions=["omics:StartRunBatch", "omics:StartRun"],
                resources=self.start_resources(default),
            ),
            f"{WHY_RUN_ARNS} {WHY_BATCH_ARNS} {WHY_WORKFLOW_ARNS}",
        )
        if run_tags:
            # The service tags each run as the caller.
            add_statement(
                policy,
                iam.PolicyStatement(actions=["omics:TagResource"], resources=[self.omics_arn("run/*")]),
                WHY_RUN_ARNS,
            )
        add_statement(
            policy,
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[run_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": OMICS_PRINCIPAL}},
            ),
        )
        return policy

    def start_resources(self, default: DefaultRunSetting, *, configuration: bool = True) -> list[str]:
        """What StartRunBatch is authorized on and, as StartRun (dual authorization), everything its
        runs use; both are evaluated on the same resources, as the Service Authorization Reference
        lists them: run*, runBatch*, the workflow, the run group, the run cache and (StartRun only)
        the configuration."""
        resources = [
            self.omics_arn("run/*"),
            self.omics_arn("runBatch/*"),
            self.omics_arn(f"workflow/{default.workflow_id}", account="*"),
        ]
        if default.run_group_id:
            resources.append(self.omics_arn(f"runGroup/{default.run_group_id}"))
        if default.cache_id:
            resources.append(self.omics_arn(f"runCache/{default.cache_id}"))
        if default.configuration_name and configuration:
            resources.append(self.omics_arn(f"configuration/{default.configuration_name}"))
        return resources

    def allow_tracking(self, policy: iam.Policy, state_machine: sfn.StateMachine) -> None:
        """Let the handlers start (or start again) the cohort's tracking execution once its batch
        has started, and, for a delete, stop the cohort's executions."""
        add_statement(
            policy,
            iam.PolicyStatement(
                actions=["states:StartExecution", "states:ListExecutions"], resources=[state_machine.state_machine_arn]
            ),
        )
        key = self.placement.encryption_key
        if key is not None:
            # An encrypted state machine: StartExecution encrypts the input with its key, and reading
            # or stopping an execution decrypts it (Step Functions asks KMS as the caller).
            add_statement(policy, states_key_statement(key, state_machine))
        executions = self._stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        add_statement(
            policy, iam.PolicyStatement(actions=["states:StopExecution"], resources=[executions]), WHY_STOP_TRACKING
        )

    def allow_manifests(self, policy: iam.Policy, bucket: s3.IBucket, keys: str, *, write: bool) -> None:
        """Let the handlers read the cohort's manifest (``keys``: the pattern of its keys in ``bucket``),
        which names the batches a tracker started, listing its key first; and, with ``write`` (a
        tracked cohort), close and reopen it with conditional writes (omics_batch_construct_runtime.manifest). Read
        without a tracker too: tracking switched off leaves the batches it started to a destroy."""
        actions = ["s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"]
        add_statement(
            policy, iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(keys)]), WHY_COHORT_MANIFESTS
        )
        # Listing the manifest's own key only: without a listing, S3 answers a missing key with 403.
        add_statement(
            policy,
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[bucket.bucket_arn], conditions={"StringLike": {"s3:prefix": keys}}
            ),
        )
        if bucket.encryption_key is not None:  # the manifest is written and read with the bucket's key
            add_statement(
                policy,
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"],
                    resources=[bucket.encryption_key.key_arn],
                ),
            )

    def allow_cohort_parts(self, policy: iam.Policy, bucket: s3.IBucket, keys: list[str], settings: list[str]) -> None:
        """Let the handlers grow a tracked cohort (provider/increment.py): read every part it was given
        and every withdrawal (``keys`` in ``bucket``) and the revision's own settings files, and write
        the increment (and the samples it removed)."""
        add_statement(
            policy,
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"], resources=[bucket.arn_for_objects(key) for key in keys]
            ),
            WHY_COHORT_PARTS,
        )
        if settings:
            add_statement(policy, iam.PolicyStatement(actions=["s3:GetObject"], resources=settings))

    def omics_arn(self, resource: str, account: str | None = None) -> str:
        stack = self._stack
        return f"arn:{stack.partition}:omics:{stack.region}:{stack.account if account is None else account}:{resource}"

    # --- helpers ----------------------------------------------------------------------

    def _role(self, id: str, description: str) -> iam.Role:
        return iam.Role(self, id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)

    def _trace_waiter(self, provider: cr.Provider) -> None:
        """X-Ray tracing on the framework's waiter state machine, which the Provider does not expose."""
        waiter = provider.node.find_child("waiter-state-machine")
        machine = waiter.node.default_child
        assert isinstance(machine, sfn.CfnStateMachine)
        machine.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True)
        role = waiter.node.find_child("Role")
        assert isinstance(role, iam.Role)
        add_statement(
            role,
            iam.PolicyStatement(
                actions=[
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                ],
                resources=["*"],
            ),
            WHY_XRAY,
        )

    def _acknowledge(
        self,
        handlers: Iterable[lambda_.Function],
        provider: cr.Provider,
        framework_roles: list[iam.Role],
        *,
        in_vpc: bool,
    ) -> None:
        """What the construct answers for its functions and the framework's, with reasons."""
        framework = [
            provider.node.find_child(name)
            for name in ("framework-onEvent", "framework-isComplete", "framework-onTimeout")
        ]
        for function in [*handlers, *framework]:
            acknowledge_function(
                function,
                why_no_dlq="Invoked by CloudFormation and by the Provider framework, which report every failure "
                "to CloudFormation (the stack fails or rolls back); there is no lost event to park.",
                in_vpc=in_vpc,
            )
        for role in (self.role, *framework_roles):
            acknowledge_own_policy(role)
            if in_vpc:
                acknowledge_vpc_access_policy(role)
        waiter = provider.node.find_child("waiter-state-machine")
        acknowledge_own_policy(
            waiter.node.find_child("Role"), "CDK's Provider framework attaches this policy to its waiter's role only."
        )
        for statement_owner in (*framework_roles, waiter.node.find_child("Role")):
            acknowledge_cdk_grants(
                statement_owner.node.find_child("DefaultPolicy"), {"lambda:InvokeFunction": WHY_FRAMEWORK}
            )


def states_key_statement(key: kms.IKey, state_machine: sfn.IStateMachine) -> iam.PolicyStatement:
    """KMS as Step Functions asks it for a caller of an encrypted state machine (StartExecution:
    GenerateDataKey; reading or stopping executions: Decrypt), for this state machine only."""
    return iam.PolicyStatement(
        actions=["kms:GenerateDataKey", "kms:Decrypt"],
        resources=[key.key_arn],
        conditions={"StringEquals": {STATES_KEY_CONTEXT: state_machine.state_machine_arn}},
    )
