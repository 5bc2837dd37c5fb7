#!/usr/bin/env python3
"""Integration test, for an account: a tiny private workflow, a batch of three runs of it, tracked to its end.

``make integ INTEG_IMAGE=<uri>`` runs it with the pinned integ-runner, which deploys real resources
(it needs AWS credentials and a bootstrapped account), waits for the assertions and destroys both
stacks. The one prerequisite is a small container image in a private ECR repository of the Region
(HealthOmics runs private workflows only from private ECR), given as ``-c integ_image=<uri>`` or
``INTEG_IMAGE=<uri>``; see "Integration test (for an account)" in docs/operations.md.

Synthesizes offline, with no credentials: both stacks are environment-agnostic and nothing is
looked up (``python integ/integ_omics_run_batch.py``, or ``tests/integ/test_integ_stack.py``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_omics as omics
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import integ_tests_alpha as integ

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, OnDelete, RunSetting
from omics_batch_construct._compliance import HIPAA_AND_NIST, acknowledge
from omics_batch_construct_runtime import layout, tracking

WORKFLOW_DIR = Path(__file__).resolve().parent / "workflow"
WORKFLOW_MAIN = "main.wdl"
# The workflow's inputs, as its parameter template declares them (HealthOmics needs a description).
WORKFLOW_PARAMETERS = {
    "sample": "The sample name the task writes into its output file.",
    "docker_image": "A private ECR image URI in the run's Region, with a POSIX shell (e.g. ubuntu).",
}
SAMPLES = ("sample-a", "sample-b", "sample-c")

IMAGE_CONTEXT_KEY = "integ_image"
# integ-runner synthesizes with a context of its own (no -c), so the image may come from the environment too.
IMAGE_ENV_VAR = "INTEG_IMAGE"
IMAGE_PLACEHOLDER = "123456789012.dkr.ecr.us-east-1.amazonaws.com/replace-with-your-private-image:latest"
PRIVATE_ECR_IMAGE = re.compile(r"^[0-9]{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/\S+$")

STACK_NAME = "OmicsRunBatchInteg"
ASSERTIONS_STACK_NAME = "OmicsRunBatchIntegAssertions"
# The batch's construct id: its runs write under s3://<bucket>/Batch/, its report under Batch/batch-reports/.
BATCH_ID = "Batch"
# The assertion that waits answers CloudFormation, which gives a custom resource at most an hour.
WAIT_FOR_TRACKING = cdk.Duration.minutes(55)
POLL_INTERVAL = cdk.Duration.minutes(1)
# Anything but RUNNING: the tracking execution has ended.
CROSS_STACK_REFERENCES = "@aws-cdk/core:defaultCrossStackReferences"
STOPPED = "^(SUCCEEDED|FAILED|TIMED_OUT|ABORTED|PENDING_REDRIVE)$"


@dataclass(frozen=True)
class IntegApp:
    """What the integ app is made of, for its test."""

    stack: cdk.Stack
    assertions_stack: cdk.Stack
    test: integ.IntegTest
    workflow: omics.CfnWorkflow
    batch: OmicsRunBatch
    bucket: s3.Bucket
    report_key: str


def image_uri(app: cdk.App) -> str:
    """The task's image: the context's ``integ_image``, else ``$INTEG_IMAGE``, else a placeholder."""
    value = app.node.try_get_context(IMAGE_CONTEXT_KEY) or os.environ.get(IMAGE_ENV_VAR) or IMAGE_PLACEHOLDER
    image = str(value).strip()
    if not PRIVATE_ECR_IMAGE.match(image):
        raise ValueError(
            f"{IMAGE_CONTEXT_KEY}: {image!r} is not a private ECR image URI "
            "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]); "
            "HealthOmics runs private workflows only from private ECR"
        )
    return image


def build(app: cdk.App) -> IntegApp:
    """The stack under test, its assertions, and the IntegTest that ties them together."""
    image = image_uri(app)
    stack = _stack(app, STACK_NAME, "omics-batch-construct integration test: a tiny workflow and a batch of it")
    assertions_stack = _stack(app, ASSERTIONS_STACK_NAME, "omics-batch-construct integration test: the assertions")

    # A folder, so zipped, as CreateWorkflow's definitionUri wants; nothing but the definition goes in.
    definition = s3_assets.Asset(stack, "WorkflowDefinition", path=str(WORKFLOW_DIR), exclude=[".*", "**/.*"])
    workflow = omics.CfnWorkflow(
        stack,
        "Workflow",
        name="omics-batch-construct-integ",
        description="omics-batch-construct integration test: writes one small file per sample",
        engine="WDL",
        main=WORKFLOW_MAIN,
        definition_uri=definition.s3_object_url,
        parameter_template={
            name: omics.CfnWorkflow.WorkflowParameterProperty(description=description, optional=False)
            for name, description in WORKFLOW_PARAMETERS.items()
        },
    )

    # The test's own bucket, emptied and deleted with the stack (the construct's would be retained).
    bucket = s3.Bucket(
        stack,
        "Outputs",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        auto_delete_objects=True,
    )
    _acknowledge_test_bucket(bucket)

    batch = OmicsRunBatch(
        stack,
        BATCH_ID,
        batch_name="omics-batch-construct-integ",
        # A token: validation skips it, the deploy orders the batch after the workflow.
        default_run_setting=DefaultRunSetting(
            workflow_id=workflow.attr_id,
            parameters={"docker_image": image},
            storage_type="DYNAMIC",
        ),
        runs=[RunSetting(run_setting_id=sample, parameters={"sample": sample}) for sample in SAMPLES],
        output_bucket=bucket,
        on_delete=OnDelete.DELETE_RUNS_AND_BATCH,
        track_completion=True,
        # The shortest backstop: should HealthOmics' status event be lost, tracking still ends within the wait.
        backstop_interval=cdk.Duration.minutes(30),
    )
    # The logs of a test go with it.
    for child in stack.node.find_all():
        if isinstance(child, logs.CfnLogGroup):
            child.apply_removal_policy(cdk.RemovalPolicy.DESTROY)

    test = integ.IntegTest(
        app,
        "OmicsRunBatchIntegTest",
        test_cases=[stack],
        assertion_stack=assertions_stack,
        # One deploy per run: no deploy of an earlier snapshot first (that would start a second batch).
        stack_update_workflow=False,
    )
    report_key = _assert(test, batch, bucket)
    return IntegApp(stack, assertions_stack, test, workflow, batch, bucket, report_key)


def _stack(app: cdk.App, name: str, description: str) -> cdk.Stack:
    """An environment-agnostic stack (synth needs no account); the assertions read the test stack's values."""
    stack = cdk.Stack(app, name, description=description)
    # Exports and imports, as CDK does by default: the assertion stack is destroyed first.
    stack.node.set_context(CROSS_STACK_REFERENCES, "strong")
    return stack


def _acknowledge_test_bucket(bucket: s3.Bucket) -> None:
    """What the test's throwaway bucket answers for, on that bucket only."""
    resource = bucket.node.default_child
    assert resource is not None
    no_logs = (
        "The integration test's own bucket, emptied and deleted with its stack after one run; access logs "
        "would need a second bucket that outlives the test, which every run would leave behind."
    )
    acknowledge(resource, "S1", no_logs, packs=("AwsSolutions",))
    acknowledge(resource, "S3BucketLoggingEnabled", no_logs, packs=HIPAA_AND_NIST)
    acknowledge(
        resource,
        "S3BucketReplicationEnabled",
        "Holds only one test run's throwaway outputs and report, deleted with the stack: there is nothing "
        "to recover in another Region.",
        packs=HIPAA_AND_NIST,
    )
    acknowledge(
        resource,
        "S3DefaultEncryptionKMS",
        "Encrypted at rest with SSE-S3 (AES-256); a customer-managed key would outlive the test, as KMS "
        "deletes keys only after a waiting period of at least seven days.",
        packs=HIPAA_AND_NIST,
    )


def _assert(test: integ.IntegTest, batch: OmicsRunBatch, bucket: s3.Bucket) -> str:
    """The tracking execution ends SUCCEEDED, and the tracker's report.json is in the bucket."""
    machine = batch.state_machine
    assert machine is not None, "tracking is on"
    # The execution the deploy's handler starts: arn:...:execution:<machine name>:batch-<batch id>.
    execution_arn = cdk.Fn.join(
        "",
        [
            cdk.Fn.join(":execution:", cdk.Fn.split(":stateMachine:", machine.state_machine_arn)),
            ":",
            tracking.execution_name(batch.batch_id),
        ],
    )
    stopped = (
        test.assertions.aws_api_call("StepFunctions", "describeExecution", {"executionArn": execution_arn})
        .expect(integ.ExpectedResult.object_like({"status": integ.Match.string_like_regexp(STOPPED)}))
        .wait_for_assertions(total_timeout=WAIT_FOR_TRACKING, interval=POLL_INTERVAL)
    )
    # Asked again once it has stopped, so that a batch that is not clean fails now, naming its status,
    # instead of waiting out the whole timeout for a SUCCEEDED that will not come.
    succeeded = test.assertions.aws_api_call(
        "StepFunctions", "describeExecution", {"executionArn": execution_arn}
    ).expect(integ.ExpectedResult.object_like({"status": "SUCCEEDED"}))
    # Where the tracker writes it: <output URI>batch-reports/batch-<batch id>/, the output URI being s3://<bucket>/Batch/.
    report_key = layout.report_key(f"{BATCH_ID}/") + layout.cohort_folder(batch.batch_id) + layout.REPORT_JSON
    report = test.assertions.aws_api_call("S3", "headObject", {"Bucket": bucket.bucket_name, "Key": report_key}).expect(
        integ.ExpectedResult.object_like({"ContentType": "application/json"})
    )
    # HeadObject is authorized by s3:GetObject, which aws_api_call does not grant (it adds "s3:HeadObject").
    report.provider.add_to_role_policy(
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [bucket.arn_for_objects(report_key)]}
    )
    stopped.next(succeeded).next(report)
    return report_key


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
