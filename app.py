#!/usr/bin/env python3
"""Example app: three samples of a private workflow, run when the stack deploys.

Synthesizes offline, with no AWS credentials: ``make synth``. The workflow id comes from
the context (``cdk synth -c workflow_id=1234567``), with a placeholder default; so does
the bucket holding the FASTQ files (``-c input_bucket=...``).
"""

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting

SAMPLES = ("NA12878", "NA12891", "NA12892")


def build(app: cdk.App) -> cdk.Stack:
    """The example stack: one batch over three samples, with its outputs."""
    stack = cdk.Stack(app, "OmicsRunBatchExample")
    workflow_id = str(app.node.try_get_context("workflow_id") or "1234567")
    bucket_name = str(app.node.try_get_context("input_bucket") or "my-fastq-bucket")
    inputs = s3.Bucket.from_bucket_name(stack, "Inputs", bucket_name)

    batch = OmicsRunBatch(
        stack,
        "Cohort7",
        batch_name="cohort-7",
        default_run_setting=DefaultRunSetting(
            workflow_id=workflow_id,
            parameters={"reference": f"s3://{bucket_name}/ref/GRCh38.fa"},
            storage_type="DYNAMIC",
        ),
        runs=[
            RunSetting(
                run_setting_id=sample,
                parameters={
                    "sample": sample,
                    "fastq_1": f"s3://{bucket_name}/fastq/{sample}_R1.fastq.gz",
                    "fastq_2": f"s3://{bucket_name}/fastq/{sample}_R2.fastq.gz",
                },
            )
            for sample in SAMPLES
        ],
        input_buckets=[inputs],
        tags={"project": "cohort-7"},
    )

    cdk.CfnOutput(stack, "BatchId", value=batch.batch_id)
    cdk.CfnOutput(stack, "BatchArn", value=batch.batch_arn)
    cdk.CfnOutput(stack, "OutputUri", value=batch.output_uri)
    return stack


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
