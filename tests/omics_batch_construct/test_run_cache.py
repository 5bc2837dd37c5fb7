"""Run caches that work out of the box: the created run role may read and write the cache's location."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_omics as omics
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from omics_batch_construct import BatchValidationError, CacheBehavior, DefaultRunSetting, OmicsRunBatch
from omics_batch_construct_runtime import contract
from tests.omics_batch_construct.conftest import dumps, new_stack, only_batch_properties, policy_statements, runs

WORKFLOW = "1234567"


def cache_statements(template: Template) -> list[dict[str, Any]]:
    return [s for s in policy_statements(template, "RunRole") if s.get("Sid", "").startswith("RunCache")]


def test_a_run_cache_construct_gives_its_id_and_its_location_to_the_run_role() -> None:
    stack = new_stack()
    cache = omics.CfnRunCache(stack, "Cache", cache_s3_location="s3://my-cache/runs/")
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, cache_behavior=CacheBehavior.CACHE_ON_FAILURE),
        runs=runs(2),
        run_cache=cache,
    )
    template = Template.from_stack(stack)

    default = only_batch_properties(template)[contract.PROP_DEFAULT_RUN_SETTING]
    assert default["cacheId"] == {"Fn::GetAtt": [stack.get_logical_id(cache), "Id"]}
    assert default["cacheBehavior"] == "CACHE_ON_FAILURE"
    by_sid = {s["Sid"]: s for s in cache_statements(template)}
    assert by_sid["RunCacheList"]["Action"] == "s3:ListBucket"
    assert '":s3:::my-cache"' in dumps(by_sid["RunCacheList"]["Resource"])
    assert sorted(by_sid["RunCacheObjects"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert '":s3:::my-cache/runs/*"' in dumps(by_sid["RunCacheObjects"]["Resource"])
    # The handlers' StartRunBatch and StartRun are allowed on the cache too.
    start = [s for s in policy_statements(template, "Handler") if "omics:StartRunBatch" in s["Action"]]
    assert ":runCache/" in dumps(start) and stack.get_logical_id(cache) in dumps(start)


def test_a_cache_id_with_its_location_is_granted_the_same_way() -> None:
    stack = new_stack()
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, cache_id="7770001"),
        runs=runs(2),
        cache_location="s3://shared-cache/omics/",
    )
    objects = {s["Sid"]: s for s in cache_statements(Template.from_stack(stack))}["RunCacheObjects"]

    assert '":s3:::shared-cache/omics/*"' in dumps(objects["Resource"])


def test_a_cache_in_the_encrypted_output_bucket_is_granted_its_key() -> None:
    stack = new_stack()
    key = kms.Key(stack, "Key")
    outputs = s3.Bucket(stack, "Outputs", encryption_key=key)
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, cache_id="7770001"),
        runs=runs(1),
        output_bucket=outputs,
        cache_location=f"s3://{outputs.bucket_name}/cache/",
    )
    by_sid = {s["Sid"]: s for s in cache_statements(Template.from_stack(stack))}

    assert sorted(by_sid["RunCacheKey"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert stack.get_logical_id(key.node.default_child) in dumps(by_sid["RunCacheKey"]["Resource"])  # type: ignore[arg-type]
    assert stack.get_logical_id(outputs.node.default_child) in dumps(by_sid["RunCacheObjects"]["Resource"])  # type: ignore[arg-type]


def test_a_cache_in_another_bucket_gets_no_key_grant() -> None:
    """Its bucket's key, if any, is its owner's to grant."""
    stack = new_stack()
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, cache_id="7770001"),
        runs=runs(1),
        encryption_key=kms.Key(stack, "Key"),
        cache_location="s3://shared-cache/",
    )
    assert "RunCacheKey" not in {s["Sid"] for s in cache_statements(Template.from_stack(stack))}


def test_a_cache_id_without_a_location_warns_that_cached_runs_cannot_write() -> None:
    stack = new_stack()
    OmicsRunBatch(
        stack, "Cohort", default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, cache_id="7770001"), runs=runs(1)
    )
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("cached runs cannot write"))

    assert len(warnings) == 1
    assert cache_statements(Template.from_stack(stack)) == []


@pytest.mark.parametrize(
    ("kwargs", "default", "problem"),
    [
        (
            {"run_cache": "cache"},
            {},
            "run_cache: expected an aws_omics.CfnRunCache, got str",
        ),
        (
            {"cache_location": "s3://my-cache/"},
            {},
            "cache_location: needs default_run_setting.cache_id (the cache it is the location of)",
        ),
        (
            {"cache_location": "my-cache/runs"},
            {"cache_id": "7770001"},
            "cache_location: 'my-cache/runs' is not an s3://bucket/prefix URI",
        ),
        (
            {"cache_location": "s3://My-Cache/runs"},
            {"cache_id": "7770001"},
            "cache_location: 's3://My-Cache/runs' names the bucket 'My-Cache', which is not a valid S3 bucket name: "
            "it has 'C', 'M' (lowercase letters, digits, dots and hyphens only)",
        ),
    ],
)
def test_cache_arguments_are_checked_with_the_others(
    kwargs: dict[str, Any], default: dict[str, Any], problem: str
) -> None:
    with pytest.raises(BatchValidationError) as raised:
        OmicsRunBatch(
            new_stack(),
            "Cohort",
            default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, **default),
            runs=runs(1),
            batch_name="x" * 65,
            **kwargs,
        )
    assert raised.value.problems == [problem, "batch_name: 65 characters, more than the maximum 64"]


def test_run_cache_and_cache_id_together_are_refused() -> None:
    stack = new_stack()
    cache = omics.CfnRunCache(stack, "Cache", cache_s3_location="s3://my-cache/")
    refused = r"run_cache: give either run_cache or default_run_setting\.cache_id"
    with pytest.raises(BatchValidationError, match=refused):
        OmicsRunBatch(
            stack,
            "Cohort",
            default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, cache_id="7770001"),
            runs=runs(1),
            run_cache=cache,
        )


def test_a_run_caches_location_is_checked_with_the_others() -> None:
    stack = new_stack()
    cache = omics.CfnRunCache(stack, "Cache", cache_s3_location="s3:/my-cache/runs/")
    with pytest.raises(BatchValidationError) as raised:
        OmicsRunBatch(
            stack,
            "Cohort",
            default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW),
            runs=runs(1),
            run_cache=cache,
        )
    assert raised.value.problems == [
        "run_cache: its cache_s3_location 's3:/my-cache/runs/' is not an s3://bucket/prefix URI"
    ]


@pytest.mark.parametrize("location", ["s3://shared-cache/omics", "s3://shared-cache/omics/"])
def test_a_cache_location_is_granted_as_a_folder_with_or_without_its_slash(location: str) -> None:
    """Not ``omics*``, which would open ``omics-other/`` too."""
    stack = new_stack()
    OmicsRunBatch(
        stack,
        "Cohort",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, cache_id="7770001"),
        runs=runs(1),
        cache_location=location,
    )
    objects = {s["Sid"]: s for s in cache_statements(Template.from_stack(stack))}["RunCacheObjects"]

    assert objects["Resource"]["Fn::Join"][1][-1] == ":s3:::shared-cache/omics/*"
