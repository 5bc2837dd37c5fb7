#!/usr/bin/env python3
"""Example app: three samples of a private workflow, run when the stack deploys.

Synthesizes offline, with no AWS credentials: ``make synth``. The workflow id comes from
the context (``cdk synth -c workflow_id=1234567``), with a placeholder default; so does
the bucket holding the FASTQ files (``-c input_bucket=...``). A context key the app does not
read (a typo such as ``-c workflw_id=...``) fails the synth. ``make deploy`` adds
``-c deploy=true``, which refuses the placeholders: a deploy needs your own values.
"""

import difflib
import json
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting

SAMPLES = ("NA12878", "NA12891", "NA12892")
HERE = Path(__file__).resolve().parent

# The context keys the app reads: each one's placeholder, and what to give instead.
PLACEHOLDERS = {"workflow_id": "1234567", "input_bucket": "my-fastq-bucket"}
WANTED = {"workflow_id": "<your private workflow id>", "input_bucket": "<the bucket of your FASTQ files>"}
DEPLOY = "deploy"  # -c deploy=true, as make deploy gives it: the placeholders are refused
KNOWN_KEYS = (*PLACEHOLDERS, DEPLOY)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


class ContextError(ValueError):
    """The context (the -c values) cannot make the example stack; the message says what to give."""


def cdk_context_keys(folder: Path = HERE) -> set[str]:
    """The keys the project's cdk.json ("context") and cdk.context.json hold: the CDK CLI passes them
    to the app with the -c values (feature flags, telemetry, lookups, acknowledged notices)."""
    keys: set[str] = set()
    for name, section in (("cdk.json", "context"), ("cdk.context.json", None)):
        path = folder / name
        if path.is_file():
            content = json.loads(path.read_text(encoding="utf-8"))
            keys.update((content.get(section) or {}) if section else content)
    return keys


def is_cdk_key(key: str, cdk_keys: Collection[str]) -> bool:
    """A key of CDK's own, not the app's."""
    return ":" in key or key.startswith(("aws-cdk", "@aws-cdk")) or key in cdk_keys


def read_context(context: Mapping[str, Any], cdk_keys: Collection[str] = ()) -> dict[str, str]:
    """The app's values from the context, placeholders for those not given. Raises ContextError for a
    key the app does not read and, with ``deploy`` true, for a placeholder left."""
    unknown = []
    for key in sorted(k for k in context if k not in KNOWN_KEYS and not is_cdk_key(k, cdk_keys)):
        close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
        unknown.append(f"{key!r}" + (f" (did you mean {close[0]}?)" if close else ""))
    if unknown:
        raise ContextError(
            f"unknown context key {', '.join(unknown)}: the keys this app reads are {', '.join(KNOWN_KEYS)}"
        )
    deploy = str(context.get(DEPLOY, "")).strip().lower()
    if deploy not in _TRUE + _FALSE:
        raise ContextError(f"-c {DEPLOY}={context[DEPLOY]} is neither true nor false")
    values = {key: str(context.get(key) or placeholder) for key, placeholder in PLACEHOLDERS.items()}
    left = [key for key, placeholder in PLACEHOLDERS.items() if values[key] == placeholder]
    if deploy in _TRUE and left:
        placeholders = ", ".join(f"{key}={PLACEHOLDERS[key]}" for key in left)
        given = " ".join(f"-c {key}={WANTED[key]}" for key in left)
        raise ContextError(
            f"a deploy needs your own values, not the example's placeholders ({placeholders}): "
            f'set {given} (make deploy ARGS="-c KEY=VALUE ...")'
        )
    return values


def build(app: cdk.App) -> cdk.Stack:
    """The example stack: one batch over three samples, with its outputs."""
    values = read_context(app.node.get_all_context(), cdk_context_keys())
    stack = cdk.Stack(app, "OmicsRunBatchExample")
    workflow_id, bucket_name = values["workflow_id"], values["input_bucket"]
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


def main() -> None:
    app = cdk.App()
    try:
        build(app)
    except ContextError as error:
        sys.exit(f"app.py: {error}")  # one line on stderr, exit status 1: no traceback
    app.synth()


if __name__ == "__main__":
    main()
