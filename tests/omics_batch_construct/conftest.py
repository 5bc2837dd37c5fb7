"""Shared helpers for the construct tests: stacks are synthesized once per module."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting

ENV = cdk.Environment(account="111122223333", region="us-east-1")


def runs(count: int, **extra: Any) -> list[RunSetting]:
    return [
        RunSetting(run_setting_id=f"S{i:06d}", parameters={"fastq_1": f"s3://in/S{i:06d}_R1.fq.gz", "lane": i}, **extra)
        for i in range(count)
    ]


def new_stack(name: str = "Test") -> cdk.Stack:
    return cdk.Stack(cdk.App(), name, env=ENV)


def batch_resources(template: Template) -> dict[str, Any]:
    return template.find_resources("Custom::OmicsRunBatch")


def only_batch_properties(template: Template) -> dict[str, Any]:
    (resource,) = batch_resources(template).values()
    return resource["Properties"]


def policy_statements(template: Template, logical_id_fragment: str) -> list[dict[str, Any]]:
    """Every statement of the IAM policies whose logical id contains the fragment."""
    found = []
    for logical_id, resource in template.find_resources("AWS::IAM::Policy").items():
        if logical_id_fragment in logical_id:
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture(scope="module")
def synth() -> Callable[..., tuple[OmicsRunBatch, Template]]:
    """Build one batch in a new stack and return it with its template."""

    def build(default: DefaultRunSetting | None = None, run_list: list[RunSetting] | None = None, **kwargs: Any):
        stack = new_stack()
        batch = OmicsRunBatch(
            stack,
            "Batch",
            default_run_setting=default or DefaultRunSetting(workflow_id="1234567"),
            runs=run_list if run_list is not None else runs(3),
            **kwargs,
        )
        return batch, Template.from_stack(stack)

    return build
