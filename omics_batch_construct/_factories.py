"""The resources the construct creates, each with its secure defaults in one place.

Buckets block public access, refuse plain HTTP, are encrypted and versioned, and are
retained on destroy (they hold results). Log groups keep their logs for a bounded time.
Functions run the handler asset (the repository's ``lambda/`` folder) on the newest Python
with JSON logs. With a customer-managed key, all of them use it; without one, the
acknowledgments below say what protects the data instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ._compliance import HIPAA_AND_NIST, acknowledge, add_statement


def _handler_asset_dir() -> Path:
    """The handler code: ``lambda/`` beside the package in a checkout, ``_lambda`` in a wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_lambda", package.parent / "lambda"):
        if (candidate / "omics_batch_construct_runtime" / "contract.py").is_file():
            return candidate
    raise FileNotFoundError(f"handler code not found beside {package}")


HANDLER_ASSET_DIR = _handler_asset_dir()

# Nothing but the handlers' code and model goes into the asset: no caches, no dotfiles.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", ".*", "**/.*"]
# The newest Python runtime CDK knows (cdk-nag's AwsSolutions-L1 asks for it).
HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_14
WHY_LOG_STREAMS = "Lambda names a log stream per execution environment; the log group itself is this function's own."

WHY_NO_REPLICATION = (
    "Replication needs a destination bucket in another Region chosen by the account's "
    "disaster recovery plan; configure it on your own bucket and pass it as output_bucket."
)
WHY_SSE_S3 = (
    "No encryption_key was given: encrypted at rest with SSE-S3 (AES-256). Pass encryption_key= "
    "to use a customer-managed KMS key for the bucket, the logs and the run role."
)
WHY_LOGS_DEFAULT_ENCRYPTION = (
    "No encryption_key was given: CloudWatch Logs encrypts log data at rest with its own keys. "
    "Pass encryption_key= to use a customer-managed KMS key."
)


@dataclass(frozen=True)
class Placement:
    """Where the construct's functions and their logs go, and how their logs are kept.

    One value for the provider and the trackers of a stack: the batches share one provider,
    so they must agree on it.
    """

    log_retention: logs.RetentionDays
    encryption_key: kms.IKey | None = None
    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None

    def differences(self, other: Placement) -> list[str]:
        """The arguments in which ``other`` asks for another placement than this one."""

        def subnets(placement: Placement) -> tuple[str, str]:
            selection = placement.vpc_subnets
            return (repr(selection and selection.subnet_type), repr(selection and selection.subnet_group_name))

        return [
            name
            for name, mine, theirs in (
                ("log_retention", self.log_retention, other.log_retention),
                ("encryption_key", self.encryption_key, other.encryption_key),
                ("vpc", self.vpc, other.vpc),
                ("vpc_subnets", subnets(self), subnets(other)),
            )
            if mine is not theirs and mine != theirs
        ]


def secure_bucket(
    scope: Construct,
    id: str,
    *,
    encryption_key: kms.IKey | None = None,
    access_logs: s3.IBucket | None = None,
    access_logs_prefix: str | None = None,
) -> s3.Bucket:
    """A private, SSL-only, encrypted, versioned bucket that outlives the stack."""
    bucket = s3.Bucket(
        scope,
        id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.KMS if encryption_key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=encryption_key,
        bucket_key_enabled=True if encryption_key else None,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=RemovalPolicy.RETAIN,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_logs_prefix,
    )
    resource = bucket.node.default_child
    assert resource is not None
    acknowledge(resource, "S3BucketReplicationEnabled", WHY_NO_REPLICATION, packs=HIPAA_AND_NIST)
    if encryption_key is None:
        acknowledge(resource, "S3DefaultEncryptionKMS", WHY_SSE_S3, packs=HIPAA_AND_NIST)
    return bucket


def access_logs_bucket(scope: Construct, id: str) -> s3.Bucket:
    """The bucket that receives a created output bucket's server access logs."""
    bucket = secure_bucket(scope, id)
    resource = bucket.node.default_child
    assert resource is not None
    why = "This bucket receives the output bucket's server access logs; logging it into itself would loop."
    acknowledge(resource, "S1", why, packs=("AwsSolutions",))
    acknowledge(resource, "S3BucketLoggingEnabled", why, packs=HIPAA_AND_NIST)
    return bucket


def log_group(scope: Construct, id: str, placement: Placement) -> logs.LogGroup:
    """A log group with bounded retention, encrypted with the key when there is one."""
    group = logs.LogGroup(scope, id, retention=placement.log_retention, encryption_key=placement.encryption_key)
    if placement.encryption_key is None:
        resource = group.node.default_child
        assert resource is not None
        acknowledge(
            resource,
            "CloudWatchLogGroupEncrypted",
            WHY_LOGS_DEFAULT_ENCRYPTION,
            packs=HIPAA_AND_NIST,
        )
    return group


def allow_logs_to_use(key: kms.IKey, scope: Construct) -> None:
    """Let CloudWatch Logs of this account and Region encrypt with the key.

    Possible only for a key whose policy this app writes; for an imported key the
    key's owner must add the statement, which a warning says.
    """
    stack = Stack.of(scope)
    allow_on_key(
        scope,
        key,
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsOfThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:DescribeKey",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        ),
        "omics-batch-construct:ImportedKeyPolicy",
        "encryption_key is imported: its key policy must let logs.<region>.amazonaws.com use it "
        "(kms:Encrypt*, Decrypt*, ReEncrypt*, GenerateDataKey*, DescribeKey) or the log groups fail to create.",
    )


def allow_on_key(scope: Construct, key: kms.IKey, statement: iam.PolicyStatement, warning: str, message: str) -> None:
    """Add ``statement`` to the key's policy; an imported key's policy is its owner's to change, which
    the synth warning ``warning`` says (``message``)."""
    if not key.add_to_resource_policy(statement, allow_no_op=True).statement_added:
        Annotations.of(scope).add_warning_v2(warning, message)


def handler_function(
    scope: Construct,
    id: str,
    *,
    handler: str,
    role: iam.Role,
    timeout: Duration,
    memory_size: int,
    description: str,
    placement: Placement,
) -> lambda_.Function:
    """A function of the handler asset (the whole lambda/ folder): latest Python, arm64, JSON
    logs in a log group of its own with bounded retention, which its role may write."""
    group = log_group(scope, f"{id}Logs", placement)
    add_statement(
        role,
        iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[group.log_group_arn]),
        WHY_LOG_STREAMS,
    )
    return lambda_.Function(
        scope,
        id,
        runtime=HANDLER_RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        code=lambda_.Code.from_asset(str(HANDLER_ASSET_DIR), exclude=ASSET_EXCLUDES),
        handler=handler,
        role=role,
        timeout=timeout,
        memory_size=memory_size,
        log_group=group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        vpc=placement.vpc,
        vpc_subnets=placement.vpc_subnets,
        description=description,
    )
